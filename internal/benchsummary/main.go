// Command benchsummary is `make bench`: it runs the benchmarks behind
// issue 12's "Figures and targets" (and the translation ones), each
// bounded by its own -benchtime, prints their output as it comes (on
// stderr), then prints one markdown table on stdout: figure, value,
// baseline, ratio, target, met?. docs/benchmarks.md carries that table.
//
//	go run ./internal/benchsummary              # run everything (a few minutes)
//	go run ./internal/benchsummary -from out.txt  # render saved `go test -bench` output
//	go run ./internal/benchsummary -o out.txt   # also keep the raw output
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// A bench is one `go test -bench` run.
type bench struct {
	pkg, pattern, benchtime string
	benchmem                bool
}

// benches are the runs, each bounded: the fixed-round benchmarks take
// -benchtime 1x (their rounds are inside), the others a fixed count.
var benches = []bench{
	{"./e2e", "^BenchmarkGateway$", "1x", false},
	{"./ratelimiter", "^BenchmarkShouldRateLimit$/^memory$", "1x", false},
	{"./ratelimiter", "^BenchmarkRedisPipelining$/^c(16|64)$/^pipelined$", "1x", false},
	{"./ratelimiter", "^BenchmarkRedisCPU$", "1x", false},
	{"./authz", "^BenchmarkCheck$/^(api_key|jwt_es256_cached|jwt_rs256_cached)$", "20000x", false},
	{"./xds", "^BenchmarkFanout$/^(sotw|delta)-10k-routes$/^1000$", "1x", false},
	{"./xds", "^BenchmarkControlPlaneHeap$", "1x", false},
	{"./xds", "^Benchmark(Translate|Snapshot)10kRoutes1kServices$", "5x", true},
}

func (b bench) args() []string {
	args := []string{"test", "-run", "^$", "-bench", b.pattern, "-benchtime", b.benchtime, "-count", "1", "-timeout", "15m"}
	if b.benchmem {
		args = append(args, "-benchmem")
	}
	return append(args, b.pkg)
}

func main() {
	from := flag.String("from", "", "render this saved `go test -bench` output instead of running the benchmarks")
	out := flag.String("o", "", "also write the raw benchmark output to this file")
	flag.Parse()
	if err := run(*from, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

func run(from, out string) error {
	var raw []byte
	failed := 0
	if from != "" {
		var err error
		if raw, err = os.ReadFile(from); err != nil {
			return err
		}
	} else {
		raw, failed = runAll()
	}
	if out != "" {
		if err := os.WriteFile(out, raw, 0o644); err != nil {
			return err
		}
	}
	res, err := Parse(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	fmt.Print(Header(time.Now(), from == ""))
	fmt.Print(Render(res))
	if failed > 0 {
		// The table is printed all the same (the failed runs' rows say
		// "not measured"), but make bench must not look like a success.
		return fmt.Errorf("%d of %d benchmark runs failed (their output is above)", failed, len(benches))
	}
	return nil
}

// runAll runs every bench in turn, echoing its output to stderr, and
// returns all of it and how many runs failed; a failed run does not stop
// the others.
func runAll() (raw []byte, failed int) {
	var all bytes.Buffer
	for _, b := range benches {
		fmt.Fprintf(os.Stderr, "\n$ go %s\n", strings.Join(b.args(), " "))
		cmd := exec.Command("go", b.args()...)
		cmd.Stdout = io.MultiWriter(&all, os.Stderr)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "benchsummary: %s %s: %v\n", b.pkg, b.pattern, err)
			failed++
		}
	}
	return all.Bytes(), failed
}

// Header says when, how and on what the table was measured.
func Header(now time.Time, ran bool) string {
	how := "`make bench` (go run ./internal/benchsummary)"
	if !ran {
		how = "rendered from saved output (go run ./internal/benchsummary -from FILE)"
	}
	return fmt.Sprintf("%s, %s, %d cores (%s), %s\n\n", now.UTC().Format("2006-01-02 15:04 MST"), how, runtime.NumCPU(), cpuModel(), runtime.Version())
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
