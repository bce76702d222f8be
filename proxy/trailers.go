package proxy

import (
	"fmt"
	"strconv"

	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/framing"
)

// setTrailers fills the declared trailer values just before the body ends.
func (s *stream) setTrailers(out sink, outcome *framing.StreamError, fw *framing.Writer) {
	digest := s.digest.Sum64()
	if fw != nil {
		digest = fw.Digest()
	}
	if outcome == nil {
		out.trailer(TrailerStatus, "ok")
	} else {
		out.trailer(TrailerStatus, "error")
		out.trailer(TrailerError, outcome.Code.String()+": "+sanitizeHeaderValue(outcome.Message))
	}
	out.trailer(TrailerRecords, strconv.FormatUint(s.scanner.Records(), 10))
	out.trailer(TrailerBytes, strconv.FormatUint(s.sent, 10))
	out.trailer(TrailerXxh64, fmt.Sprintf("%016x", digest))
	if s.verified != nil && outcome == nil {
		if s.verified.Root != (hash.Value{}) {
			out.trailer(TrailerVerifiedRoot, s.verified.Root.String())
		}
		out.trailer(TrailerVerifiedProof, sanitizeHeaderValue(s.verified.Proof))
	}
}

// sanitizeHeaderValue keeps a message safe for a header line.
func sanitizeHeaderValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	if len(b) > 512 {
		b = b[:512]
	}
	return string(b)
}
