package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestKeysCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys", "keys.yaml")
	out, errOut, code := runCmd(t, "keys", "new", "--id", "partner-a", "--scopes", "orders:read,orders:write", "--tier", "gold", "--expires", "90d", "--services", "orders", "--file", file)
	if code != 0 {
		t.Fatalf("keys new: %d %s", code, errOut)
	}
	key := strings.TrimSpace(out)
	if id, err := authz.ParseKey(key); err != nil || id != "partner-a" {
		t.Fatalf("printed key %q: %v", key, err)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), key) || !strings.Contains(string(data), authz.HashKey(key)) {
		t.Fatalf("the keys file must hold the hash only:\n%s", data)
	}
	kf, err := authz.ReadKeysFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k := kf.Find("partner-a")
	if k.Tier != "gold" || len(k.Scopes) != 2 || k.Services[0] != "orders" || k.Expires.Sub(k.Created) != 90*24*time.Hour {
		t.Errorf("record %+v", k)
	}
	if _, _, code := runCmd(t, "keys", "new", "--id", "partner-a", "--file", file); code == 0 {
		t.Error("a second key with the same id was accepted")
	}
	out, _, code = runCmd(t, "keys", "rotate", "partner-a", "--overlap", "1h", "--file", file)
	if code != 0 || strings.TrimSpace(out) == key {
		t.Fatalf("rotate: %d %q", code, out)
	}
	if _, errOut, code := runCmd(t, "keys", "revoke", "partner-a", "--file", file); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	out, _, code = runCmd(t, "keys", "list", "--file", file)
	if code != 0 || !strings.Contains(out, "partner-a") || !strings.Contains(out, "revoked") || strings.Contains(out, authz.HashKey(key)) {
		t.Errorf("list:\n%s", out)
	}
	if _, errOut, code := runCmd(t, "keys", "new", "--id", "partner-b", "--file", file); code != 0 {
		t.Fatalf("keys new partner-b: %s", errOut)
	}
	out, _, _ = runCmd(t, "keys", "list", "--id", "partner-b", "--file", file)
	if !strings.Contains(out, "partner-b") || strings.Contains(out, "partner-a") {
		t.Errorf("list --id partner-b:\n%s", out)
	}
	for _, bad := range [][]string{{"keys", "new", "--id", "Bad_Id", "--file", file}, {"keys", "new", "--id", "x", "--expires", "soon", "--file", file}, {"keys", "revoke", "nobody", "--file", file}, {"keys", "list"}} {
		if _, _, code := runCmd(t, bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
}

// failingWriter is a stdout that cannot be written, like a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// A key is shown only once: when it cannot be shown, the command must
// fail and say so, or a script takes a key nobody has for a success.
func TestKeysNewFailsWhenTheKeyCannotBeShown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	for _, args := range [][]string{
		{"keys", "new", "--id", "partner-a", "--file", file},
		{"keys", "rotate", "partner-a", "--file", file},
	} {
		var errOut bytes.Buffer
		code := run(args, failingWriter{}, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "could not be shown") {
			t.Errorf("%v: exit %d, stderr %q; want a failure that says the key could not be shown", args, code, errOut.String())
		}
	}
}
