// Package program finds the real programs that tests drive (curl, nginx,
// HAProxy, python3, systemd-analyze): the one rule for when such a test
// skips and when it fails.
//
// It imports nothing of backseal's, unlike its parent testkit, so that the
// framing package's tests (and its fuzzers' instrumented build) can use it
// without linking the proxy.
package program

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the CI variable is set to anything but "", "0" or
// "false". .ci/run exports CI=true.
func InCI() bool {
	ci := os.Getenv("CI")
	return ci != "" && ci != "0" && ci != "false"
}

// Need returns the path of the program name, looked up on PATH and then in
// /usr/sbin and /sbin (not on every user's PATH). When it is not installed
// the test fails in CI, since .ci/run installs the Debian package
// aptPackage, and is skipped otherwise: no test passes in CI by skipping.
func Need(t testing.TB, name, aptPackage string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if path, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return path
		}
	}
	if InCI() {
		t.Fatalf("%s is not installed, and CI=%s: .ci/run must install the Debian package %s", name, os.Getenv("CI"), aptPackage)
	}
	t.Skipf("%s is not installed (apt-get install %s; with CI=true this fails)", name, aptPackage)
	return ""
}
