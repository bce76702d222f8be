package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaultJSON(t *testing.T) {
	t.Parallel()
	in := []Fault{
		{Kind: Stall, After: 5, Stall: 1500 * time.Millisecond, Endpoint: "transactions"},
		{Kind: Restart, Count: -1, Restart: 300 * time.Millisecond},
		{Kind: Slow, Rate: 1000},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"stall":"1.5s"`) || !strings.Contains(string(b), `"kind":"restart"`) {
		t.Errorf("json %s", b)
	}
	var out []Fault
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("round trip: %+v != %+v", out[i], in[i])
		}
	}
	for _, bad := range []Fault{{Kind: "nope"}, {Kind: Drop, Count: -2}, {Kind: Drop, Endpoint: "db_state"},
		{Kind: Status500, Endpoint: "transactions"}, {Kind: Drop, Endpoint: "nope"}, {Kind: Stall, Stall: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	ctl := httptest.NewServer(s.ControlHandler())
	t.Cleanup(ctl.Close)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ctl.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := do("PUT", "/faults", `[{"kind":"stall","after":5,"stall":"1.5s","endpoint":"transactions"},{"kind":"status500","count":-1}]`)
	if code != 200 || len(s.Faults()) != 2 || s.Faults()[0].Stall != 1500*time.Millisecond {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, _ = do("POST", "/faults", `{"kind":"drop","after":3}`); code != 200 || len(s.Faults()) != 3 {
		t.Fatalf("POST: %d, %d faults", code, len(s.Faults()))
	}
	code, body = do("GET", "/faults", "")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(body), &listed); err != nil || code != 200 || len(listed) != 3 ||
		listed[0]["stall"] != "1.5s" || listed[1]["remaining"] != float64(-1) || listed[2]["applied"] != float64(0) {
		t.Fatalf("GET: %d %s", code, body)
	}
	var armed []ArmedFault
	if err := json.Unmarshal([]byte(body), &armed); err != nil || len(armed) != 3 || armed[1].Remaining != -1 || armed[0].Stall != 1500*time.Millisecond {
		t.Fatalf("ArmedFault round trip: %v %+v", err, armed)
	}
	for _, bad := range []string{`[{"kind":"nope"}]`, `{"kind":"stall","stall":"soon"}`, `{"kind":"status500","endpoint":"transactions"}`, `nonsense`} {
		if code, _ := do("PUT", "/faults", bad); code != 400 {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if len(s.Faults()) != 3 {
		t.Fatal("a rejected PUT changed the faults")
	}

	rawGet(t, s.Addr(), "/db_state") // status500 applies
	if code, _ = do("DELETE", "/faults", ""); code != 200 || len(s.Faults()) != 0 {
		t.Fatalf("DELETE: %d", code)
	}
	rawGet(t, s.Addr(), "/transactions/0/10")
	// The writer counts what it sent after its write returns, which can be
	// after the client has read it all.
	waitFor(t, s, func(st Stats) bool { return st.RecordsSent == 10 })
	code, body = do("GET", "/stats", "")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.Requests["db_state"] != 1 || st.Requests["transactions"] != 1 || st.Responses[500] != 1 ||
		st.FaultsFired[Status500] != 1 || st.RecordsSent != 10 || st.Streams != 1 {
		t.Fatalf("stats %s", body)
	}
	if code, body = do("GET", "/chain", ""); code != 200 || !strings.Contains(body, "C=2000") {
		t.Fatalf("chain: %d %s", code, body)
	}
}
