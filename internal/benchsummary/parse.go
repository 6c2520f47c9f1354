package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Results are the metrics of every benchmark line read, by benchmark name
// (without the -GOMAXPROCS suffix) and unit, such as
// results["BenchmarkGateway"]["throughput_ratio"]. The built-in columns
// are there too, under their units: ns/op, B/op, allocs/op.
type Results map[string]map[string]float64

// benchLine is a result line of `go test -bench`: name, iterations, then
// value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// Parse reads `go test -bench` output (text, as go test prints it) and
// returns the metrics of every benchmark line; other lines are ignored.
// A benchmark that appears twice (-count 2) keeps its last line.
func Parse(r io.Reader) (Results, error) {
	res := Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		metrics := map[string]float64{}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			metrics[fields[i+1]] = v
		}
		res[m[1]] = metrics
	}
	return res, sc.Err()
}

// get returns one metric and whether it was measured.
func (r Results) get(bench, unit string) (float64, bool) {
	v, ok := r[bench][unit]
	return v, ok
}
