package proxy_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkSmallRequest: one /db_state round trip, direct to the simulator
// and through the sidecar, sequential on keep-alive connections; the
// difference is the latency the sidecar adds to small endpoints.
//
//	go test -run '^$' -bench SmallRequest -benchmem ./proxy
func BenchmarkSmallRequest(b *testing.B) {
	up := startSim(b, testChain())
	px := startProxy(b, testConfig(up.URL()))
	for _, target := range []struct{ name, addr string }{{"direct", up.Addr()}, {"sidecar", px.Addr()}} {
		b.Run(target.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			url := "http://" + target.addr + "/db_state"
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
