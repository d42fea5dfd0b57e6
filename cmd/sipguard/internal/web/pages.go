package web

import (
	"bytes"
	"html/template"
	"net/http"
	"sort"
)

// pageData is what the server's own pages show.
type pageData struct {
	Title     string
	Error     string
	Kept      bool // the password outlives a restart
	Forbidden bool // the first password is set from the office only
	Min       int
}

var layout = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sipguard · {{.Title}}</title>
<link rel="stylesheet" href="/static/style.css"></head><body>
<header class="top"><a class="brand" href="/">sipguard</a></header>
<main>
{{if not .Kept}}<p class="flash err"><strong>No state file: the password, tokens and sessions are lost when the box restarts.</strong></p>{{end}}
{{if .Error}}<p class="flash err" role="alert"><strong>{{.Error}}</strong></p>{{end}}{{end}}
{{define "foot"}}</main></body></html>{{end}}`

var loginTmpl = template.Must(template.New("login").Parse(layout + `{{template "head" .}}
<h1>Log in</h1>
<form method="post" action="/login">
<p><label>Password <input type="password" name="password" autocomplete="current-password" required autofocus></label></p>
<p><button type="submit">Log in</button></p>
</form>
{{template "foot"}}`))

var setupTmpl = template.Must(template.New("setup").Parse(layout + `{{template "head" .}}
<h1>First password</h1>
{{if .Forbidden}}<p>The box has no password yet: set it from a computer on the office side (the PBX's port).</p>
{{else}}<p>The box has no password yet: choose the administrator's, at least {{.Min}} characters.</p>
<form method="post" action="/setup">
<p><label>Password <input type="password" name="password" autocomplete="new-password" minlength="{{.Min}}" required autofocus></label></p>
<p><label>Again <input type="password" name="again" autocomplete="new-password" minlength="{{.Min}}" required></label></p>
<p><button type="submit">Set the password</button></p>
</form>{{end}}
{{template "foot"}}`))

// overviewData is the plain overview's.
type overviewData struct {
	pageData
	CSRF        string
	Fingerprint string
	Lists       []listRow
	Problem     string
}

type listRow struct {
	Name       string
	IPv4, IPv6 int
}

var overviewTmpl = template.Must(template.New("overview").Parse(layout + `{{template "head" .}}
<h1>Overview</h1>
{{if .Problem}}<p><strong>{{.Problem}}</strong></p>{{end}}
<table><thead><tr><th>List</th><th>IPv4</th><th>IPv6</th></tr></thead><tbody>
{{range .Lists}}<tr><td>{{.Name}}</td><td>{{.IPv4}}</td><td>{{.IPv6}}</td></tr>
{{end}}</tbody></table>
<p>Certificate fingerprint (SHA-256): <code id="fingerprint">{{.Fingerprint}}</code></p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Log out</button></form>
{{template "foot"}}`))

// overview is the plain page the server shows at / when it is given no
// dashboard: the lists' sizes, the certificate's fingerprint, log out.
func overview(o PageOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		d := overviewData{pageData: pageData{Title: "Overview", Kept: o.Kept}, CSRF: o.CSRFToken(r), Fingerprint: o.Fingerprint}
		if o.Backend != nil {
			st, err := o.Backend.Status(r.Context())
			if err != nil {
				d.Problem = "Status unavailable: " + err.Error()
			}
			for name, sz := range st.Lists {
				d.Lists = append(d.Lists, listRow{Name: name, IPv4: sz.IPv4, IPv6: sz.IPv6})
			}
			sort.Slice(d.Lists, func(i, j int) bool { return d.Lists[i].Name < d.Lists[j].Name })
		}
		render(w, http.StatusOK, overviewTmpl, d)
	})
}

// render writes a page.
func render(w http.ResponseWriter, code int, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}
