package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/durable-go/durable"
)

// pages holds the parsed templates: each page is the layout with its own
// "content".
type pages struct {
	prefix string
	byName map[string]*template.Template
}

var pageNames = []string{"overview", "list", "execution", "confirm", "login", "error"}

func newPages(prefix string) (*pages, error) {
	p := &pages{prefix: prefix, byName: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"path":     func(parts ...string) string { return prefix + strings.Join(parts, "") },
		"execPath": func(id string) string { return prefix + "/executions/" + url.PathEscape(id) },
		"has":      func(list []string, s any) bool { return slices.Contains(list, fmt.Sprint(s)) },
		"join":     func(list []string) string { return strings.Join(list, ",") },
		"plural":   plural,
		"statusClass": func(s durable.Status) string {
			return "st st-" + string(s)
		},
	}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render writes page name with data, or a 500 page when it fails.
func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	buf.Grow(32 << 10)
	if err := p.byName[name].Execute(&buf, data); err != nil {
		http.Error(w, "dashboard: rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// fragment renders one named template of the list page (a table row, the
// counts): the live feed sends fragments rendered once for every viewer.
func (p *pages) fragment(w io.Writer, page, name string, data any) error {
	return p.byName[page].ExecuteTemplate(w, name, data)
}

// base is what the layout needs.
type base struct {
	Prefix   string
	Title    string
	Nav      string // the current section: overview or executions
	CSRF     string
	ReadOnly bool
	Live     bool
	Auth     bool // a login is needed: show the logout button
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
