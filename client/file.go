package client

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// PartialSuffix is appended to the output name for the verified bytes of a
// failed stream, when WriteFile is asked to keep them.
const PartialSuffix = ".partial"

// WriteFile makes name appear only with a complete, verified payload. It
// calls fill with a buffered writer on a new file beside name (name plus
// ".backseal-tmp-" and random hex, created with mode 0666 before umask); if
// fill returns nil, it flushes the file, syncs it, renames it to name
// (replacing any file there) and syncs the directory.
//
// If fill fails, or panics, the temporary file is removed, or, with
// keepPartial, renamed to name+PartialSuffix (holding the verified bytes
// received before the failure, possibly none); name itself is not touched.
// Cancel fill's context (Ctrl-C) and the same happens. WriteFile returns
// fill's summary and error; its own failures wrap ErrOutput.
func WriteFile(name string, keepPartial bool, fill func(w io.Writer) (Summary, error)) (sum Summary, err error) {
	f, err := createBeside(name)
	if err != nil {
		return Summary{}, withClass(ErrOutput, fmt.Errorf("client: %w: %w", ErrOutput, err))
	}
	tmp := f.Name()
	done := false
	defer func() {
		if done {
			return
		}
		f.Close()
		os.Remove(tmp) // fill panicked
	}()

	bw := bufio.NewWriterSize(f, copyBufferSize)
	sum, err = fill(bw)
	if err != nil {
		done = true
		if keepPartial {
			if ferr := commit(bw, f, name+PartialSuffix); ferr != nil {
				return sum, errors.Join(err, withClass(ErrOutput, fmt.Errorf("client: keeping the partial payload: %w", ferr)))
			}
			return sum, err
		}
		f.Close()
		os.Remove(tmp)
		return sum, err
	}
	done = true
	if ferr := commit(bw, f, name); ferr != nil {
		return sum, withClass(ErrOutput, fmt.Errorf("client: %w: %w", ErrOutput, ferr))
	}
	syncDir(filepath.Dir(name))
	return sum, nil
}

// commit flushes bw, syncs and closes f, and renames it to name; on any
// failure the file is removed.
func commit(bw *bufio.Writer, f *os.File, name string) error {
	err := bw.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// createBeside creates a new, empty file in name's directory.
func createBeside(name string) (*os.File, error) {
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		f, err := os.OpenFile(name+".backseal-tmp-"+hex.EncodeToString(b[:]), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("creating a temporary file beside %s: too many collisions", name)
}

// syncDir makes a rename in dir durable. Some file systems cannot sync a
// directory; the file itself is already synced, so errors are ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
