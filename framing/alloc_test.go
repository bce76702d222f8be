package framing

import (
	"bytes"
	"io"
	"testing"
)

func TestWriterAllocs(t *testing.T) {
	w, err := NewWriter(io.Discard, Header{StreamID: testID})
	if err != nil {
		t.Fatal(err)
	}
	p := payload(64<<10, 1)
	if a := testing.AllocsPerRun(100, func() { w.Write(p) }); a != 0 {
		t.Errorf("Writer.Write: %v allocs per frame, want 0", a)
	}
}

func TestReaderAllocs(t *testing.T) {
	const frame = 4 << 10
	chunks := make([][]byte, 250)
	for i := range chunks {
		chunks[i] = payload(frame, uint64(i))
	}
	stream := encode(t, Header{StreamID: testID}, chunks, 0, nil)
	tests := []struct {
		name string
		size int // Read size
	}{
		{"direct", frame},  // payload read straight into p
		{"buffered", 1000}, // payload read into the Reader's buffer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(stream))
			p := make([]byte, tt.size)
			readFrame := func() {
				for got := 0; got < frame; {
					n, err := r.Read(p)
					if err != nil {
						t.Fatal(err)
					}
					got += n
				}
			}
			readFrame() // header, first frame, buffer growth
			if a := testing.AllocsPerRun(100, readFrame); a != 0 {
				t.Errorf("Reader.Read: %v allocs per frame, want 0", a)
			}
		})
	}
}
