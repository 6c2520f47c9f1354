package testenv

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose Skipf and Fatalf end the goroutine, as
// the real ones do, and record what they were told.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// require runs Require on a recorder in its own goroutine, since Skipf
// and Fatalf end it.
func require(find func() (string, error)) (bin string, r *recorder) {
	r = &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bin = Require(r, "Envoy", "make deps-envoy", find)
	}()
	<-done
	return bin, r
}

// setShort sets -short for one test.
func setShort(t *testing.T, on bool) {
	was := testing.Short()
	if err := flag.Set("test.short", fmt.Sprint(on)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("test.short", fmt.Sprint(was)) })
}

func TestRequire(t *testing.T) {
	found := func() (string, error) { return "/usr/bin/envoy", nil }
	missing := func() (string, error) { return "", errors.New("not on PATH") }
	for _, tc := range []struct {
		name                string
		short               bool
		ci                  string
		find                func() (string, error)
		bin, skipped, fails string
	}{
		{"found", false, "", found, "/usr/bin/envoy", "", ""},
		{"found under CI", false, "true", found, "/usr/bin/envoy", "", ""},
		{"-short skips though found", true, "", found, "", "needs Envoy: skipped under -short", ""},
		{"-short skips under CI too", true, "true", missing, "", "needs Envoy: skipped under -short", ""},
		{"missing locally skips with the install command", false, "", missing, "", "no Envoy (make deps-envoy installs it): not on PATH", ""},
		{"missing under CI fails", false, "true", missing, "", "", "CI=true but Envoy is missing (make deps-envoy installs it): not on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setShort(t, tc.short)
			t.Setenv("CI", tc.ci)
			bin, r := require(tc.find)
			if bin != tc.bin || r.skipped != tc.skipped || r.failed != tc.fails {
				t.Errorf("got bin %q, skipped %q, failed %q; want %q, %q, %q", bin, r.skipped, r.failed, tc.bin, tc.skipped, tc.fails)
			}
		})
	}
}

func TestBufferIsSafeForConcurrentWriters(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := len(b.String()); n != 400 {
		t.Errorf("%d bytes, want 400", n)
	}
}
