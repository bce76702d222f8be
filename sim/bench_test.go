package sim

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkStream measures the record stream a Go client reads from a real
// loopback socket: the whole default chain's transactions (about 87 MB) per
// iteration, through net/http (chunked decoding included) and raw.
//
//	go test -run '^$' -bench Stream -benchtime 20x ./sim
func BenchmarkStream(b *testing.B) {
	for _, batch := range []int{DefaultBatchSize, 256 << 10, OldBatchSize} {
		cfg := DefaultConfig()
		cfg.BatchSize = batch
		s := startServer(b, cfg)
		path := "/transactions/0/" + strconv.FormatUint(cfg.CommittedVersion+1, 10)
		_, body := s.Chain().Body(mustParse(b, path))
		size := int64(len(body))
		name := "batch=" + strconv.Itoa(batch>>10) + "KiB"

		b.Run(name+"/http", func(b *testing.B) {
			client := newClient(b)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(s.URL() + path)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("read %d of %d: %v", n, size, err)
				}
			}
		})
		b.Run(name+"/raw", func(b *testing.B) {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 256<<10)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				io.WriteString(c, "GET "+path+" HTTP/1.1\r\nhost: sim\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil || n != size {
					b.Fatalf("read %d of %d: %v", n, size, err)
				}
			}
		})
	}
}

// BenchmarkChainRecords measures record generation alone (no socket).
func BenchmarkChainRecords(b *testing.B) {
	ch := NewChain(DefaultConfig())
	buf := make([]byte, 0, 4<<20)
	var v uint64
	var total int64
	for b.Loop() {
		buf = buf[:0]
		for len(buf) < 2<<20 {
			buf = ch.appendRecord(buf, kindTransaction, 0, v)
			v++
		}
		total += int64(len(buf))
	}
	b.SetBytes(total / int64(b.N))
}
