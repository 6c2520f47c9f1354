package main

import (
	"testing"
	"time"
)

func TestGRPCMaxConnectionAgeFlags(t *testing.T) {
	c, err := parseServe([]string{"--policy", "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.connAge.keepalive(); p.MaxConnectionAge != 30*time.Minute || p.MaxConnectionAgeGrace != 30*time.Second {
		t.Errorf("default age %v grace %v, want 30m and 30s", p.MaxConnectionAge, p.MaxConnectionAgeGrace)
	}
	// 0 disables: grpc-go reads a zero age as infinity, and so must the
	// grace be left alone.
	c, err = parseServe([]string{"--policy", "p", "--grpc-max-connection-age", "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.connAge.keepalive(); p.MaxConnectionAge != 0 || p.MaxConnectionAgeGrace != 0 {
		t.Errorf("--grpc-max-connection-age 0: age %v grace %v, want both unset", p.MaxConnectionAge, p.MaxConnectionAgeGrace)
	}
	if _, err := parseServe([]string{"--policy", "p", "--grpc-max-connection-age", "-1s"}, nil); err == nil {
		t.Error("a negative age was accepted")
	}
}
