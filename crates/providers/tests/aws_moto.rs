//! AWS SNS and SES v2 against moto: the SMS and the email arrive (read back from moto's
//! `/moto-api/data.json`) with the right recipient and body; the SNS probe and the AWS
//! credential validator work with candidate keys. moto does not implement SES v2 `GetAccount`,
//! so the SES probe is not exercised here.

mod common;

use common::*;
use msgops_core::{ErrorKind, Provider};
use msgops_credentials::{CredentialProvider, CredentialSet, CredentialValidator, SecretKind};
use msgops_providers::aws::{AwsCredentials, AwsSettings};
use msgops_providers::{AwsValidator, SesProvider, SnsProvider, Timeouts};
use secrecy::SecretString;

fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.into()),
        credentials: AwsCredentials::Static {
            access_key_id: SecretString::from(FAKE_AWS_KEY_ID),
            secret_access_key: SecretString::from(FAKE_AWS_SECRET),
        },
        timeouts: Timeouts::default(),
    }
}

#[tokio::test]
async fn an_sms_through_sns_reaches_moto_with_the_right_number_and_body() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let sms = otp_sms("091282");
    let receipt = sns.send(&sms).await.expect("moto accepts the SMS");
    let id = receipt.provider_message_id.expect("a MessageId");

    let data = moto_data(&moto).await;
    let sent = data["sns"]["SmsMessage"].as_array().expect("SMS list");
    let ours = sent
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .unwrap_or_else(|| panic!("message {id} in {sent:?}"));
    assert_eq!(ours["phone_number"], "+14165550123");
    assert_eq!(
        ours["message"],
        "Your Acme code is 091282. It expires in 10 minutes."
    );
    Provider::<msgops_core::SmsMessage>::probe(&sns)
        .await
        .expect("GetSMSAttributes answers");
}

#[tokio::test]
async fn an_email_through_ses_v2_reaches_moto_after_the_identity_is_created() {
    let moto = peer_or_skip!(start_moto());
    let s = settings(&moto.url());
    // The sender must be a verified identity, as on AWS.
    let admin = aws_sdk_sesv2::Client::new(&s.sdk_config().await);
    admin
        .create_email_identity()
        .email_identity("otp@example.com")
        .send()
        .await
        .expect("identity created");
    let ses = SesProvider::new(&s, "otp@example.com").await;
    let email = otp_email("091282");
    ses.send(&email).await.expect("moto accepts the email");

    let data = moto_data(&moto).await;
    let messages = data["ses"]["Message"].as_array().expect("SES messages");
    let ours = messages
        .iter()
        .find(|m| m["source"] == "otp@example.com")
        .unwrap_or_else(|| panic!("our email in {messages:?}"));
    assert_eq!(
        ours["destinations"]["ToAddresses"][0],
        "customer@example.com"
    );
    assert_eq!(ours["subject"], "Your Acme verification code");
    assert!(
        ours["body"]
            .as_str()
            .is_some_and(|b| b.contains("Your Acme code is 091282. It expires in 10 minutes.")),
        "{ours}"
    );
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender_as_a_permanent_rejection() {
    let moto = peer_or_skip!(start_moto());
    let ses = SesProvider::new(&settings(&moto.url()), "nobody@unverified.example").await;
    let e = ses.send(&otp_email("1")).await.expect_err("unverified");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e:?}");
    assert!(e.message.contains("MessageRejected"), "{}", e.message);
}

#[tokio::test]
async fn the_aws_validator_accepts_candidate_keys_through_sns() {
    let moto = peer_or_skip!(start_moto());
    let validator = AwsValidator {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.url()),
        timeouts: Timeouts::default(),
    };
    let set = CredentialSet::new(CredentialProvider::Aws)
        .with(SecretKind::AwsAccessKeyId, FAKE_AWS_KEY_ID)
        .and_then(|s| s.with(SecretKind::AwsSecretAccessKey, FAKE_AWS_SECRET))
        .expect("set");
    validator
        .validate(&set)
        .await
        .expect("moto accepts any keys");
    let partial = CredentialSet::new(CredentialProvider::Aws)
        .with(SecretKind::AwsAccessKeyId, FAKE_AWS_KEY_ID)
        .expect("set");
    assert!(validator.validate(&partial).await.is_err());
}

#[tokio::test]
async fn sns_with_nothing_listening_is_transient() {
    let sns = SnsProvider::new(&settings(&refused_url())).await;
    let e = sns.send(&otp_sms("1")).await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Transient, "{e:?}");
    // Plain words for the dashboard, not the SDK's debug dump.
    assert!(
        e.message
            .starts_with("AWS SNS: could not reach the service: Connection refused"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("DispatchFailure"), "{}", e.message);
}
