package main

import (
	"flag"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// connectionAge bounds how long one Envoy connection to the gRPC server
// lives. ADS streams never end on their own, so after a rollout every Envoy
// stays on whichever replica came up first; closing connections after a
// maximum age makes them reconnect through the Service or balancer and
// spread over every replica. grpc-go adds a random ±10% to the age of each
// connection (getJitter in google.golang.org/grpc/internal/transport's
// http2_server.go), so a fleet's streams do not all reconnect at once.
type connectionAge struct {
	max   time.Duration // 0: connections live forever
	grace time.Duration // how long streams may finish after the GOAWAY
}

func (a *connectionAge) register(fs *flag.FlagSet) {
	durationVar(fs, &a.max, "grpc-max-connection-age", 30*time.Minute, "close each gRPC connection after about this long (±10% jitter), so that Envoys' ADS streams spread over new replicas after a rollout; 0 keeps connections forever")
	durationVar(fs, &a.grace, "grpc-max-connection-age-grace", 30*time.Second, "how long the calls and streams of an aged connection may run on before it is closed; Envoy reconnects its ADS stream and keeps its configuration meanwhile")
}

func (a *connectionAge) check() error {
	if a.max < 0 || a.grace < 0 {
		return fmt.Errorf("--grpc-max-connection-age and --grpc-max-connection-age-grace must not be negative")
	}
	return nil
}

// serverOption sets the server's keepalive parameters with the age; it
// replaces newGRPCServer's (the last KeepaliveParams option wins), keeping
// their pings: Envoy sends keepalives on its long ADS streams, and the
// server pings idle connections so that a vanished Envoy's stream is
// noticed.
func (a connectionAge) serverOption() grpc.ServerOption { return grpc.KeepaliveParams(a.keepalive()) }

// keepalive returns the keepalive parameters with the age set.
func (a connectionAge) keepalive() keepalive.ServerParameters {
	p := keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
	if a.max > 0 {
		// Zero means "the default" to grpc-go, which is infinity.
		p.MaxConnectionAge, p.MaxConnectionAgeGrace = a.max, a.grace
	}
	return p
}
