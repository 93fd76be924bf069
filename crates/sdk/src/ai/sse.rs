//! Server-Sent Events, parsed as the WHATWG `EventSource` reads them: lines end with `\n`,
//! `\r\n` or `\r`; a blank line ends an event; `data:` lines join with `\n`; `event:`, `id:`
//! and `retry:` set their fields; lines starting with `:` are comments; one space after the
//! colon is dropped. Feed it chunks as they arrive; it keeps what is not a whole event yet.

/// One event of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty when the stream gave none: a `message`).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// `id:`, when given.
    pub id: Option<String>,
    /// `retry:` in milliseconds, when given and a number.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// The data parsed as JSON (`None` for `[DONE]` and other text).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.data).ok()
    }

    /// OpenAI's end-of-stream marker, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// The parser of one stream; keeps the unfinished line and event between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The last chunk ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    event: SseEvent,
    /// The event being read has a field (a blank line after nothing is no event).
    started: bool,
    data_lines: Vec<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Reads a chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// The event the stream ended in without its blank line, if any (the spec drops it;
    /// some LLM APIs end that way, so it is offered here).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            if let Some(event) = self.line_ended(&line) {
                return Some(event);
            }
        }
        self.started.then(|| self.dispatch())
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.started.then(|| self.dispatch());
        }
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(at) => {
                let value = &text[at + 1..];
                (&text[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => self.data_lines.push(value.to_string()),
            "event" => self.event.event = value.to_string(),
            "id" if !value.contains('\0') => self.event.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.event.retry = Some(ms);
                }
            }
            _ => return None,
        }
        self.started = true;
        None
    }

    fn dispatch(&mut self) -> SseEvent {
        self.started = false;
        let mut event = std::mem::take(&mut self.event);
        event.data = std::mem::take(&mut self.data_lines).join("\n");
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\r\nevent: delta\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata: line two\nid: 7\nretry: 1500\n\n\rdata:[DONE]\r\r";

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| parser.feed(c)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_come_out_whole_wherever_the_chunks_split() {
        let whole = all(&[STREAM.as_bytes()]);
        assert_eq!(whole.len(), 3, "{whole:?}");
        assert_eq!(whole[0].event, "delta");
        assert_eq!(whole[0].json().unwrap()["a"], 1);
        assert_eq!(whole[1].data, "line one\nline two");
        assert_eq!(whole[1].id.as_deref(), Some("7"));
        assert_eq!(whole[1].retry, Some(1500));
        assert!(whole[2].is_done());
        let bytes = STREAM.as_bytes();
        for first in 0..bytes.len() {
            for second in first..bytes.len() {
                let split = all(&[&bytes[..first], &bytes[first..second], &bytes[second..]]);
                assert_eq!(split, whole, "split at {first} and {second}");
            }
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_offered_at_the_end() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"data: tail").is_empty());
        assert_eq!(parser.finish().unwrap().data, "tail");
        assert_eq!(parser.finish(), None);
    }
}
