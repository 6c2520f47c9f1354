package main

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/admin"
)

// The status page is server-rendered by html/template, which escapes
// every value for its context: node ids, NACK errors and route names come
// from Envoys and policy files, so they are untrusted text. Its script
// only refreshes it; everything shows with JavaScript off.
//
//go:embed statuspage
var statusPageFiles embed.FS

var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"join":     strings.Join,
	"typeName": typeName,
	"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") },
	"rfc3339":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(statusPageFiles, "statuspage/status.html"))

// statusPageCSP allows the page its own script, style and fetches, and
// nothing else: should an escape ever be missed, no injected inline
// script or foreign resource runs.
const statusPageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveStatus serves the status model as JSON at /debug/status and as a
// page at /status.
func serveStatus(adm *admin.Server, s *statusSources) {
	adm.HandleJSON("/debug/status", func() any { return s.status() })
	adm.Handle("/status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		renderStatusPage(w, s.status())
	}))
	adm.Handle("/status/{file}", http.HandlerFunc(serveStatusAsset))
}

// renderStatusPage writes the page of st, or a 500 when it cannot be
// rendered (rendering goes to a buffer first, so no half page is sent).
func renderStatusPage(w http.ResponseWriter, st Status) {
	var b bytes.Buffer
	if err := statusPage.Execute(&b, st); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	statusPageHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// serveStatusAsset serves the page's script and style sheet.
func serveStatusAsset(w http.ResponseWriter, r *http.Request) {
	types := map[string]string{"status.js": "text/javascript; charset=utf-8", "status.css": "text/css; charset=utf-8"}
	name := r.PathValue("file")
	ctype, ok := types[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := statusPageFiles.ReadFile("statuspage/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	statusPageHeaders(w, ctype)
	_, _ = w.Write(data) //nolint:gosec // G705: data is an embedded file of this binary, not input
}

func statusPageHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", statusPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}
