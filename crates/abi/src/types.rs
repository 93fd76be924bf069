//! The enums of the proxy-wasm ABI (0.1.0 – 0.2.1, plus Higress `0_2_100`).

macro_rules! abi_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum $name { $($(#[$vmeta])* $variant = $value),+ }

        impl $name {
            /// The enum value for a raw ABI number, if it names one.
            pub fn from_raw(raw: u32) -> Option<Self> {
                match raw {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The raw ABI number.
            pub fn raw(self) -> u32 {
                self as u32
            }
        }
    };
}

abi_enum! {
    /// `proxy_status_t`: what every host function returns.
    Status {
        Ok = 0,
        NotFound = 1,
        BadArgument = 2,
        SerializationFailure = 3,
        ParseFailure = 4,
        BadExpression = 5,
        InvalidMemoryAccess = 6,
        Empty = 7,
        CasMismatch = 8,
        ResultMismatch = 9,
        InternalFailure = 10,
        BrokenConnection = 11,
        Unimplemented = 12,
    }
}

abi_enum! {
    /// `proxy_log_level_t`.
    LogLevel {
        Trace = 0,
        Debug = 1,
        Info = 2,
        Warn = 3,
        Error = 4,
        Critical = 5,
    }
}

impl LogLevel {
    /// The lower-case name used in log lines and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }

    /// Every level, lowest first.
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Critical,
    ];
}

/// A log level's name that is none of [`LogLevel::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogLevel(pub String);

impl std::fmt::Display for UnknownLogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown log level {:?}: use trace, debug, info, warn, error or critical",
            self.0
        )
    }
}

impl std::error::Error for UnknownLogLevel {}

impl std::str::FromStr for LogLevel {
    type Err = UnknownLogLevel;

    /// A level by its name, in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownLogLevel(text.to_string()))
    }
}

abi_enum! {
    /// `proxy_map_type_t`: which header map a map call addresses.
    MapType {
        HttpRequestHeaders = 0,
        HttpRequestTrailers = 1,
        HttpResponseHeaders = 2,
        HttpResponseTrailers = 3,
        GrpcCallInitialMetadata = 4,
        GrpcCallTrailingMetadata = 5,
        HttpCallResponseHeaders = 6,
        HttpCallResponseTrailers = 7,
    }
}

abi_enum! {
    /// `proxy_buffer_type_t`, with Higress's Redis reply buffer (9).
    BufferType {
        HttpRequestBody = 0,
        HttpResponseBody = 1,
        DownstreamData = 2,
        UpstreamData = 3,
        HttpCallResponseBody = 4,
        GrpcReceiveBuffer = 5,
        VmConfiguration = 6,
        PluginConfiguration = 7,
        CallData = 8,
        RedisCallResponse = 9,
    }
}

abi_enum! {
    /// The gRPC status codes (`grpc-status`), as `proxy_on_grpc_close` gives them.
    GrpcCode {
        Ok = 0,
        Cancelled = 1,
        Unknown = 2,
        InvalidArgument = 3,
        DeadlineExceeded = 4,
        NotFound = 5,
        AlreadyExists = 6,
        PermissionDenied = 7,
        ResourceExhausted = 8,
        FailedPrecondition = 9,
        Aborted = 10,
        OutOfRange = 11,
        Unimplemented = 12,
        Internal = 13,
        Unavailable = 14,
        DataLoss = 15,
        Unauthenticated = 16,
    }
}

abi_enum! {
    /// `proxy_stream_type_t`, the argument of `proxy_continue_stream`/`proxy_close_stream`.
    StreamType {
        HttpRequest = 0,
        HttpResponse = 1,
        Downstream = 2,
        Upstream = 3,
    }
}

abi_enum! {
    /// `proxy_metric_type_t`.
    MetricType {
        Counter = 0,
        Gauge = 1,
        Histogram = 2,
    }
}

abi_enum! {
    /// The value a header callback returns, with Envoy's full range (which Higress's
    /// `0_2_100` SDKs return as they are). Standard SDKs return only 0 and 1.
    HeaderAction {
        Continue = 0,
        StopIteration = 1,
        ContinueAndEndStream = 2,
        StopAllIterationAndBuffer = 3,
        StopAllIterationAndWatermark = 4,
    }
}

abi_enum! {
    /// The value a body callback returns, with Envoy's full range.
    DataAction {
        Continue = 0,
        StopIterationAndBuffer = 1,
        StopIterationAndWatermark = 2,
        StopIterationNoBuffer = 3,
    }
}

impl HeaderAction {
    /// How Envoy reads a raw return value: values past the range stop all iteration.
    pub fn from_guest(raw: u32) -> Self {
        Self::from_raw(raw).unwrap_or(HeaderAction::StopAllIterationAndWatermark)
    }

    /// Whether the phase holds the stream.
    pub fn is_stop(self) -> bool {
        !matches!(
            self,
            HeaderAction::Continue | HeaderAction::ContinueAndEndStream
        )
    }
}

impl DataAction {
    /// How Envoy reads a raw return value: values past the range stop without buffering.
    pub fn from_guest(raw: u32) -> Self {
        Self::from_raw(raw).unwrap_or(DataAction::StopIterationNoBuffer)
    }

    /// Whether the phase holds the stream.
    pub fn is_stop(self) -> bool {
        self != DataAction::Continue
    }
}

/// The ABI versions a module can declare with a marker export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AbiVersion {
    /// `proxy_abi_version_0_1_0`.
    V0_1_0,
    /// `proxy_abi_version_0_2_0`.
    V0_2_0,
    /// `proxy_abi_version_0_2_1`.
    V0_2_1,
    /// Higress's `proxy_abi_version_0_2_100`.
    V0_2_100,
}

impl AbiVersion {
    /// Every version, oldest first.
    pub const ALL: [AbiVersion; 4] = [
        AbiVersion::V0_1_0,
        AbiVersion::V0_2_0,
        AbiVersion::V0_2_1,
        AbiVersion::V0_2_100,
    ];

    /// The export name that declares this version.
    pub fn marker(self) -> &'static str {
        match self {
            AbiVersion::V0_1_0 => "proxy_abi_version_0_1_0",
            AbiVersion::V0_2_0 => "proxy_abi_version_0_2_0",
            AbiVersion::V0_2_1 => "proxy_abi_version_0_2_1",
            AbiVersion::V0_2_100 => "proxy_abi_version_0_2_100",
        }
    }

    /// The version an export name declares, if it is a marker.
    pub fn from_marker(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.marker() == name)
    }

    /// Header callbacks carry `end_of_stream` from 0.2.0 on.
    pub fn has_end_of_stream(self) -> bool {
        self != AbiVersion::V0_1_0
    }
}

/// The `grpc_status` argument of `proxy_send_local_response` that means "none".
pub const NO_GRPC_STATUS: i32 = -1;

#[cfg(test)]
mod tests {

    #[test]
    fn log_levels_parse_by_name_in_any_case() {
        assert_eq!("warn".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert_eq!("CRITICAL".parse::<LogLevel>(), Ok(LogLevel::Critical));
        let err = "loud".parse::<LogLevel>().unwrap_err();
        assert!(err.to_string().contains("trace, debug"), "{err}");
    }

    use super::*;

    #[test]
    fn raw_values_round_trip() {
        assert_eq!(Status::from_raw(8), Some(Status::CasMismatch));
        assert_eq!(Status::Unimplemented.raw(), 12);
        assert_eq!(BufferType::from_raw(9), Some(BufferType::RedisCallResponse));
        assert_eq!(MapType::from_raw(8), None);
    }

    #[test]
    fn out_of_range_actions_stop_like_envoy() {
        assert_eq!(
            HeaderAction::from_guest(9),
            HeaderAction::StopAllIterationAndWatermark
        );
        assert_eq!(DataAction::from_guest(9), DataAction::StopIterationNoBuffer);
        assert!(!HeaderAction::from_guest(2).is_stop());
        assert!(HeaderAction::from_guest(1).is_stop());
    }

    #[test]
    fn markers_name_versions() {
        assert_eq!(
            AbiVersion::from_marker("proxy_abi_version_0_2_100"),
            Some(AbiVersion::V0_2_100)
        );
        assert_eq!(AbiVersion::from_marker("proxy_abi_version_9_9_9"), None);
        assert!(!AbiVersion::V0_1_0.has_end_of_stream());
    }
}
