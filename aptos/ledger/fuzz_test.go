package ledger

import (
	"bytes"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
)

func FuzzParseLedgerInfoWithSignatures(f *testing.F) {
	lis, _ := testChain(f, 0, 2)
	for _, li := range lis {
		w := bcs.NewWriter(nil)
		li.Encode(w)
		f.Add(w.Encoded())
	}
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		li, err := ParseLedgerInfoWithSignatures(b)
		if err != nil {
			return
		}
		w := bcs.NewWriter(nil)
		li.Encode(w)
		if !bytes.Equal(w.Encoded(), b) {
			t.Fatalf("encode(decode(b)) != b\n b %x\ngot %x", b, w.Encoded())
		}
	})
}

func FuzzParseWaypoint(f *testing.F) {
	f.Add("0:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4")
	f.Add("18446744073709551615:9be2e66ca1a5570a4fefaa9621d616babac603ec76109c19b609d613d7595dd3")
	f.Fuzz(func(t *testing.T, s string) {
		wp, err := ParseWaypoint(s)
		if err != nil {
			return
		}
		back, err := ParseWaypoint(wp.String())
		if err != nil || back != wp {
			t.Fatalf("%q: String %q does not parse back: %v", s, wp.String(), err)
		}
	})
}
