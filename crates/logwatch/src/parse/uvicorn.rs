//! uvicorn's own lines (`INFO:     ...`) and its access lines, which carry no timestamp.

use super::timestamp::digits;

/// `INFO:     rest` -> `rest` (uvicorn's own lines).
pub(crate) fn parse_uvicorn(line: &str) -> Option<&str> {
    let (level, rest) = line.split_once(':')?;
    if !matches!(
        level,
        "INFO" | "WARNING" | "ERROR" | "DEBUG" | "CRITICAL" | "TRACE"
    ) {
        return None;
    }
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_start())
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AccessLine<'a> {
    pub client: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub reason: &'a str,
}

/// `127.0.0.1:64825 - "POST /api/v1/auth/otp/send HTTP/1.1" 500 Internal Server Error`
pub(crate) fn parse_access(rest: &str) -> Option<AccessLine<'_>> {
    let (client, tail) = rest.split_once(" - \"")?;
    let (request, status_part) = tail.rsplit_once("\" ")?;
    let mut req = request.splitn(3, ' ');
    let method = req.next()?;
    let path = req.next()?;
    let status_part = status_part.trim();
    let (status, reason) = match status_part.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (status_part, ""),
    };
    if status.len() != 3 {
        return None;
    }
    let status = u16::try_from(digits(status.as_bytes())?).ok()?;
    Some(AccessLine {
        client,
        method,
        path,
        status,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uvicorn_access_line() {
        let rest = parse_uvicorn(r#"INFO:     127.0.0.1:64825 - "POST /api/v1/auth/otp/send HTTP/1.1" 500 Internal Server Error"#).unwrap();
        let a = parse_access(rest).unwrap();
        assert_eq!(
            a,
            AccessLine {
                client: "127.0.0.1:64825",
                method: "POST",
                path: "/api/v1/auth/otp/send",
                status: 500,
                reason: "Internal Server Error"
            }
        );
    }
}
