package framing

import "strconv"

// Code is the status of a stream, the first byte of the end frame payload.
// Zero is success; every other value, known or not, is an error status.
// The names are stable: they appear in logs, metrics and HTTP trailers.
type Code uint8

// Status codes. docs/FRAMING.md gives each one's meaning.
const (
	CodeOK                  Code = 0  // the stream is complete
	CodeTruncated           Code = 1  // upstream ended cleanly on a record boundary, short of a complete response
	CodeIncompleteRecord    Code = 2  // upstream ended inside a record
	CodeUpstreamAborted     Code = 3  // upstream body cut without the terminating chunk
	CodeUpstreamReset       Code = 4  // upstream connection reset (TCP RST)
	CodeUpstreamStalled     Code = 5  // no upstream bytes within the stall timeout
	CodeExcessRecords       Code = 6  // more records than the request can yield
	CodeRecordTooLarge      Code = 7  // a record length prefix above the limit
	CodeUpstreamUnavailable Code = 8  // no upstream response after retries
	CodeShutdown            Code = 9  // the sidecar's draining deadline passed
	CodeUpstreamStatus      Code = 10 // upstream answered a non-200 status
	CodeResumeMismatch      Code = 11 // a resumed continuation disagreed with bytes already sent
	CodeUpstreamProtocol    Code = 12 // malformed HTTP from upstream
	CodeCountUnavailable    Code = 13 // the expected record count could not be determined
	CodeInternal            Code = 14 // a sidecar bug
	// Content verification (verify_content) outcomes.
	CodeContentMismatch       Code = 15 // a record or the range does not match the chain's commitment
	CodeContentUnknownVariant Code = 16 // a record holds a variant this version cannot decode
	CodeContentUnproven       Code = 17 // the proof to check against could not be had
)

var codeNames = [...]string{
	CodeOK:                  "ok",
	CodeTruncated:           "truncated",
	CodeIncompleteRecord:    "incomplete-record",
	CodeUpstreamAborted:     "upstream-aborted",
	CodeUpstreamReset:       "upstream-reset",
	CodeUpstreamStalled:     "upstream-stalled",
	CodeExcessRecords:       "excess-records",
	CodeRecordTooLarge:      "record-too-large",
	CodeUpstreamUnavailable: "upstream-unavailable",
	CodeShutdown:            "shutdown",
	CodeUpstreamStatus:      "upstream-status",
	CodeResumeMismatch:      "resume-mismatch",
	CodeUpstreamProtocol:    "upstream-protocol",
	CodeCountUnavailable:    "count-unavailable",
	CodeInternal:            "internal",

	CodeContentMismatch:       "content-mismatch",
	CodeContentUnknownVariant: "content-unknown-variant",
	CodeContentUnproven:       "content-unproven",
}

// String returns the code's stable lowercase name, or "code(N)" for a code
// this version does not know.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// ParseCode returns the code named name: the inverse of String. It accepts
// "code(N)" only for a number without a name (18 <= N <= 255 in this version).
func ParseCode(name string) (Code, bool) {
	for i, n := range codeNames {
		if n == name {
			return Code(i), true
		}
	}
	if len(name) > len("code()") && name[:5] == "code(" && name[len(name)-1] == ')' {
		digits := name[5 : len(name)-1]
		if len(digits) > 1 && digits[0] == '0' {
			return 0, false // one spelling per code
		}
		n, err := strconv.ParseUint(digits, 10, 8)
		if err == nil && n >= uint64(len(codeNames)) && strconv.FormatUint(n, 10) == digits {
			return Code(n), true
		}
	}
	return 0, false
}
