package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of what the server has done since it was created.
type Stats struct {
	Connections uint64            `json:"connections"` // accepted
	Requests    map[string]uint64 `json:"requests"`    // by endpoint name; "-" for unknown paths
	Responses   map[int]uint64    `json:"responses"`   // by status code; streams count as 200 when the head is sent
	Streams     uint64            `json:"streams"`     // streaming responses started
	// StreamsActive, ProducersRunning and ProducersWaiting are gauges: a
	// stream waits for a producer slot when MaxProducers already run.
	StreamsActive    int64 `json:"streams_active"`
	ProducersRunning int64 `json:"producers_running"`
	ProducersWaiting int64 `json:"producers_waiting"`
	// BytesProduced counts batch bytes handed to the queue; RecordsSent and
	// BytesSent count records and body bytes (no chunk framing) written to
	// sockets. Produced minus sent is what is queued or was lost to a fault.
	BytesProduced uint64               `json:"bytes_produced"`
	RecordsSent   uint64               `json:"records_sent"`
	BytesSent     uint64               `json:"bytes_sent"`
	FaultsFired   map[FaultKind]uint64 `json:"faults_fired"`
	Restarts      uint64               `json:"restarts"`
}

type stats struct {
	mu        sync.Mutex
	requests  map[string]uint64
	responses map[int]uint64
	faults    map[FaultKind]uint64

	connections, streams, restarts        atomic.Uint64
	bytesProduced, recordsSent, bytesSent atomic.Uint64
	streamsActive, producersRunning       atomic.Int64
	producersWaiting                      atomic.Int64
}

func (st *stats) init() {
	st.requests = map[string]uint64{}
	st.responses = map[int]uint64{}
	st.faults = map[FaultKind]uint64{}
}

func (st *stats) request(label string) {
	st.mu.Lock()
	st.requests[label]++
	st.mu.Unlock()
}

func (st *stats) response(status int) {
	st.mu.Lock()
	st.responses[status]++
	st.mu.Unlock()
}

func (st *stats) fault(k FaultKind) {
	st.mu.Lock()
	st.faults[k]++
	st.mu.Unlock()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Connections:      st.connections.Load(),
		Streams:          st.streams.Load(),
		StreamsActive:    st.streamsActive.Load(),
		ProducersRunning: st.producersRunning.Load(),
		ProducersWaiting: st.producersWaiting.Load(),
		BytesProduced:    st.bytesProduced.Load(),
		RecordsSent:      st.recordsSent.Load(),
		BytesSent:        st.bytesSent.Load(),
		Restarts:         st.restarts.Load(),
		Requests:         map[string]uint64{},
		Responses:        map[int]uint64{},
		FaultsFired:      map[FaultKind]uint64{},
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range st.requests {
		out.Requests[k] = v
	}
	for k, v := range st.responses {
		out.Responses[k] = v
	}
	for k, v := range st.faults {
		out.FaultsFired[k] = v
	}
	return out
}

// ControlHandler returns the control API (serve it on a loopback listener):
//
//	GET    /faults  the armed faults with their counters
//	PUT    /faults  replace the armed faults with a JSON list (or one object)
//	POST   /faults  arm more faults
//	DELETE /faults  disarm all faults
//	GET    /stats   Stats as JSON
//	GET    /chain   the chain's configuration and summary
//	POST   /chain/advance?versions=N&epochs=M  grow the chain (Advance)
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	setFaults := func(add bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			fs, err := decodeFaults(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.faults.set(fs, add)
			writeJSON(w, http.StatusOK, s.Faults())
		}
	}
	mux.HandleFunc("PUT /faults", setFaults(false))
	mux.HandleFunc("POST /faults", setFaults(true))
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /chain", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Config  Config `json:"config"`
			Summary string `json:"summary"`
		}{s.Chain().Config(), s.Chain().Summary()})
	})
	mux.HandleFunc("POST /chain/advance", func(w http.ResponseWriter, r *http.Request) {
		var by [2]uint64
		for i, key := range []string{"versions", "epochs"} {
			if v := r.URL.Query().Get(key); v != "" {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					http.Error(w, key+": want a decimal count", http.StatusBadRequest)
					return
				}
				by[i] = n
			}
		}
		db, err := s.Advance(by[0], by[1])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, db)
	})
	return mux
}

// decodeFaults reads a JSON list of faults, or a single fault, and validates them.
func decodeFaults(r io.Reader) ([]Fault, error) {
	body, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	var fs []Fault
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "["):
		err = json.Unmarshal(body, &fs)
	case strings.HasPrefix(trimmed, "{"):
		var f Fault
		err = json.Unmarshal(body, &f)
		fs = []Fault{f}
	default:
		err = errors.New("want a JSON fault or a list of faults")
	}
	if err != nil {
		return nil, err
	}
	for i, f := range fs {
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("fault %d: %w", i, err)
		}
	}
	return fs, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
