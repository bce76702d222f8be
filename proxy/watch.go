package proxy

import (
	"net"
	"syscall"
	"time"
)

// watch runs beside writeTo. While the stream waits on the upstream it
// ends an attempt that stalls (so it can be resumed) or that a heal waits on
// past resume_window, and it notices a client that went away, which
// fasthttp would otherwise see only at the next write.
func (s *stream) watch() {
	stall := s.p.cfg.StallTimeout
	interval := max(min(stall/4, 250*time.Millisecond), 5*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		if heal := s.healDeadline.Load(); heal != 0 && now >= heal {
			// A resumed attempt that has sent the client nothing by the end
			// of resume_window is too late to help it.
			if a := s.cur.Load(); a != nil {
				a.cancel(errDeadline)
			}
		}
		since := s.readingSince.Load()
		if since == 0 {
			continue
		}
		idle := time.Duration(now - since)
		if idle >= stall {
			if a := s.cur.Load(); a != nil {
				a.cancel(errStalled)
			}
		}
		if idle >= interval && clientGone(s.conn) {
			s.cancel(errClientGone)
		}
	}
}

// clientGone reports whether the peer closed or reset the connection,
// peeking without consuming so a pipelined request stays for fasthttp.
func clientGone(c net.Conn) bool {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn() // TLS: peeking the TCP socket still shows FIN and RST
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // orderly shutdown: EOF
		case err == syscall.EAGAIN || err == syscall.EINTR:
		default:
			gone = true // reset or another hard error
		}
		return true
	})
	return gone
}
