package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawUpstream starts a minimal HTTP/1.1 server that answers every request
// 200 with an x-route header naming it, and the request target exactly as
// Envoy forwarded it in x-target (a header, so HEAD requests show it too). It parses nothing else, so that no
// request Envoy forwards is refused by the upstream's own parser.
func rawUpstream(t testing.TB, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = lis.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveRaw(conn, name)
			}()
		}
	}()
	return lis.Addr().String()
}

// serveRaw answers requests on one connection until it closes.
func serveRaw(conn net.Conn, name string) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Split(strings.TrimRight(line, "\r\n"), " ")
		target := ""
		if len(fields) >= 2 {
			target = fields[1]
		}
		length := 0
		var tenant []string
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			h = strings.TrimRight(h, "\r\n")
			if h == "" {
				break
			}
			k, v, _ := strings.Cut(h, ":")
			switch strings.ToLower(k) {
			case "content-length":
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			case "x-tenant":
				tenant = append(tenant, strings.TrimSpace(v))
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			return
		}
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nx-route: %s\r\nx-target: %s\r\nx-tenant-seen: %s\r\ncontent-length: 0\r\n\r\n",
			name, target, strings.Join(tenant, "|"))
	}
}

// rawAnswer is what Envoy answered to a raw request: the route (from the
// upstream's x-route header), or Envoy's own status, and the target the
// service received or the redirect's location.
type rawAnswer struct {
	Status   int
	Route    string
	Target   string
	Location string
	Tenant   string
}

// rawConn sends raw requests over one connection, dialling again when
// Envoy closed it.
type rawConn struct {
	addr string
	tls  *tls.Config // nil: plain TCP
	conn net.Conn
	br   *bufio.Reader
}

func (c *rawConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// do writes raw and reads one response. A request Envoy refuses may end
// the connection, so the connection is only kept after a routed answer.
func (c *rawConn) do(method string, raw []byte) (rawAnswer, error) {
	for attempt := 0; ; attempt++ {
		a, err := c.try(method, raw)
		if err == nil || attempt == 1 {
			return a, err
		}
		c.close() // a kept connection Envoy closed meanwhile: retry once on a new one
	}
}

func (c *rawConn) try(method string, raw []byte) (rawAnswer, error) {
	if c.conn == nil {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		var conn net.Conn
		var err error
		if c.tls != nil {
			conn, err = tls.DialWithDialer(dialer, "tcp", c.addr, c.tls)
		} else {
			conn, err = dialer.Dial("tcp", c.addr)
		}
		if err != nil {
			return rawAnswer{}, err
		}
		c.conn, c.br = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(raw); err != nil {
		c.close()
		return rawAnswer{}, err
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.close()
		return rawAnswer{}, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.close()
		return rawAnswer{}, err
	}
	a := rawAnswer{Status: resp.StatusCode, Route: resp.Header.Get("x-route"), Location: resp.Header.Get("location"),
		Tenant: resp.Header.Get("x-tenant-seen")}
	if a.Route != "" {
		a.Target = resp.Header.Get("x-target")
	}
	if resp.Close || a.Route == "" {
		c.close()
	}
	return a, nil
}
