package telemetry

// Attribute keys of backseal's own span attributes and event attributes. The
// HTTP ones follow the OpenTelemetry semantic conventions and come from
// go.opentelemetry.io/otel/semconv/v1.43.0 (http.request.method, url.path,
// http.route, http.response.status_code, server.address, client.address,
// network.protocol.version).
const (
	// AttrEndpoint is the legacy endpoint's name, e.g. "transactions".
	AttrEndpoint = "backseal.endpoint"
	// AttrMode is "framed" or "passthrough".
	AttrMode = "backseal.mode"
	// AttrRecords is the number of records forwarded to the client.
	AttrRecords = "backseal.records"
	// AttrBytes is the number of payload bytes forwarded to the client.
	AttrBytes = "backseal.bytes"
	// AttrFrames is the number of frames written (framed mode; 0 otherwise).
	AttrFrames = "backseal.frames"
	// AttrResumes is the number of resumes the stream needed.
	AttrResumes = "backseal.resumes"
	// AttrOutcome is the stream's outcome: "ok", a framing code name
	// ("truncated", "upstream-aborted", ...), "client-gone" or "rejected".
	// On a failure_detected event it is the detected failure's code.
	AttrOutcome = "backseal.outcome"
	// AttrAttempt is an upstream span's kind: "stream", "resume" or "count".
	AttrAttempt = "backseal.attempt"
	// AttrRecordIndex is, on a failure_detected event, the index of the
	// record being read when the failure was seen (the number of complete
	// records before it).
	AttrRecordIndex = "backseal.record_index"
	// AttrByteOffset is, on a failure_detected event, the payload byte offset
	// at which the failure was seen.
	AttrByteOffset = "backseal.byte_offset"
	// AttrCause is, on resume events, the outcome code being healed.
	AttrCause = "backseal.cause"
	// AttrContinuation is, on a resume_start event, the continuation's path.
	AttrContinuation = "backseal.continuation"
)

// Span event names.
const (
	// EventFirstByte: the first payload byte went to the client.
	EventFirstByte = "first_byte"
	// EventFailureDetected: an upstream failure was seen (healed or not),
	// with AttrOutcome, AttrRecordIndex and AttrByteOffset.
	EventFailureDetected = "failure_detected"
	// EventResumeStart: a continuation request is about to be sent.
	EventResumeStart = "resume_start"
	// EventResumeSuccess: the continuation answered 200 and streaming goes on.
	EventResumeSuccess = "resume_success"
	// EventClientGone: writing to the client failed; the stream ends.
	EventClientGone = "client_gone"
	// EventDrain: the sidecar began draining (or its drain deadline passed)
	// while this stream ran.
	EventDrain = "drain"
)

// Values of AttrAttempt and of the kind label of backseal_upstream_attempts_total.
const (
	AttemptStream = "stream"
	AttemptResume = "resume"
	AttemptCount  = "count"
)

// ScopeName is the instrumentation scope of backseal's tracer and meter.
const ScopeName = "github.com/backseal/backseal"
