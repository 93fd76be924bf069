//! [`Url`]: the host and the escaped path and query of a callout or route-call URL, split
//! as wasm-go splits it (but kept escaped, and without the fragment).

/// The parts of a callout URL: an optional host and the escaped path and query.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub query: &'a str,
}

impl<'a> Url<'a> {
    pub(crate) fn parse(url: &'a str) -> Self {
        let url = url.split('#').next().unwrap_or("");
        let (host, rest) = match url.split_once("://") {
            Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains('/') => {
                let end = rest.find(['/', '?']).unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            _ => (None, url),
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Url { host, path, query }
    }

    pub(crate) fn path_and_query(&self) -> String {
        let mut out = String::with_capacity(self.path.len() + self.query.len() + 2);
        out.push('/');
        out.push_str(self.path.trim_start_matches('/'));
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(self.query);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_like_wasm_go_but_stay_escaped() {
        let u = Url::parse("http://auth.local:8080/a%2Fb?x=1#frag");
        assert_eq!(u.host, Some("auth.local:8080"));
        assert_eq!(u.path_and_query(), "/a%2Fb?x=1");
        assert_eq!(Url::parse("token").path_and_query(), "/token");
        assert_eq!(Url::parse("").path_and_query(), "/");
        assert_eq!(Url::parse("/p?").path_and_query(), "/p");
        assert_eq!(Url::parse("https://h").path_and_query(), "/");
    }
}
