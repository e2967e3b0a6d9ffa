//! The service's event stream (`GET /api/v1/events`, server-sent events), followed across
//! disconnects: each reconnect sends the last event id seen as `Last-Event-ID`, so the service
//! replays what was missed; an `event: reset` (the service restarted and cannot replay) tells
//! the caller to fetch the state again.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// `message` when the server named none.
    pub event: String,
    pub data: String,
}

/// What the follower tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamNews {
    /// Connected (again): events follow.
    Connected,
    Event(SseEvent),
    /// Lost the connection; trying again after the given wait.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

/// Reads the text/event-stream format incrementally (lines may be split across chunks).
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    pending: String,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    pub(crate) fn feed(&mut self, chunk: &str) -> Vec<SseEvent> {
        self.pending.push_str(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    out.push(SseEvent {
                        id: self.id.clone(),
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a comment (keep-alive)
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => self.id = Some(value.to_owned()),
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}

pub(crate) async fn follow(
    service: &crate::RemoteService,
    cancel: CancellationToken,
    mut on_news: impl FnMut(StreamNews) + Send,
) {
    let mut last_id: Option<String> = None;
    let mut wait = Duration::from_millis(250);
    loop {
        let reason = tokio::select! {
            () = cancel.cancelled() => return,
            r = read_once(service, &mut last_id, &mut on_news, &mut wait) => r,
        };
        on_news(StreamNews::Disconnected {
            reason,
            retry_in: wait,
        });
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// One connection: until it ends; returns why.
async fn read_once(
    service: &crate::RemoteService,
    last_id: &mut Option<String>,
    on_news: &mut (impl FnMut(StreamNews) + Send),
    wait: &mut Duration,
) -> String {
    let mut request = service
        .request(reqwest::Method::GET, "/api/v1/events")
        .header("accept", "text/event-stream");
    if let Some(id) = last_id.as_deref() {
        request = request.header("last-event-id", id);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return service.explain(&e).to_string(),
    };
    if !response.status().is_success() {
        return crate::RemoteError::from_status(response).await.to_string();
    }
    on_news(StreamNews::Connected);
    *wait = Duration::from_millis(250);
    let mut parser = SseParser::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                for event in parser.feed(&String::from_utf8_lossy(&bytes)) {
                    if event.id.is_some() {
                        last_id.clone_from(&event.id);
                    }
                    on_news(StreamNews::Event(event));
                }
            }
            Err(e) => return service.explain(&e).to_string(),
        }
    }
    "the service ended the stream".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_with_their_ids() {
        let mut p = SseParser::default();
        assert!(p.feed(": keep-alive\n\nid: r1-4\nevent: code_s").is_empty());
        let got = p.feed("een\ndata: {\"code\":\"091282\"}\r\n\r\nid: r1-5\ndata: a\ndata: b\n\n");
        assert_eq!(
            got,
            [
                SseEvent {
                    id: Some("r1-4".into()),
                    event: "code_seen".into(),
                    data: "{\"code\":\"091282\"}".into()
                },
                SseEvent {
                    id: Some("r1-5".into()),
                    event: "message".into(),
                    data: "a\nb".into()
                }
            ]
        );
    }
}
