//! Prints the service's OpenAPI document (as served at `/api/v1/openapi.json` on loopback).
fn main() {
    let doc = msgops_service::openapi(&msgops_service::ApiAuth::none());
    match doc.to_pretty_json() {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot encode the OpenAPI document: {e}"),
    }
}
