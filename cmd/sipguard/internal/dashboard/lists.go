package dashboard

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter"
)

// listData is the allow or deny list's page.
type listData struct {
	List    string // allow or deny
	Other   string
	Entries []api.Entry
	// The add form's values as typed, and its error.
	Prefix, Note, AddError string
	// ImportError says why a file was refused; BadLines are its bad lines.
	ImportError string
	BadLines    []api.LineError
	DeleteError string
}

// confirmData is a confirmation page: what is about to happen, and the
// form that does it.
type confirmData struct {
	Question string
	Items    []string
	Action   string // the form's action
	Fields   []row  // hidden fields repeated
	Button   string
	Cancel   string // where "cancel" goes
	Danger   bool
}

// listOf reads the page's list from the path.
func listOf(r *http.Request) (string, bool) {
	l := r.PathValue("list")
	return l, l == "allow" || l == "deny"
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	s.showList(w, r, http.StatusOK, listData{})
}

func (s *server) showList(w http.ResponseWriter, r *http.Request, code int, d listData) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	entries, err := s.b.List(r.Context(), list)
	if err != nil {
		s.failed(w, r, "read the "+list+" list", err)
		return
	}
	d.List, d.Entries = list, entries
	d.Other = map[string]string{"allow": "deny", "deny": "allow"}[list]
	title := map[string]string{"allow": "Allow list", "deny": "Deny list"}[list]
	s.render(w, r, code, "list", title, d)
}

func (s *server) listAdd(w http.ResponseWriter, r *http.Request) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	prefix, note := strings.TrimSpace(r.PostFormValue("prefix")), strings.TrimSpace(r.PostFormValue("note"))
	d := listData{Prefix: prefix, Note: note}
	p, err := netfilter.ParsePrefix(prefix)
	if err != nil {
		d.AddError = message(err)
		s.showList(w, r, http.StatusBadRequest, d)
		return
	}
	if _, err := s.b.Add(r.Context(), list, []api.Entry{{Prefix: p.String(), Note: note, By: "dashboard"}}); err != nil {
		d.AddError = message(err)
		s.showList(w, r, http.StatusBadRequest, d)
		return
	}
	s.done(w, r, "/lists/"+list, fmt.Sprintf("%s added to the %s list", p, list), "list", list, "prefix", p)
}

// listDelete removes the entries ticked, after a confirmation page.
func (s *server) listDelete(w http.ResponseWriter, r *http.Request) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{DeleteError: message(err)})
		return
	}
	picked := r.PostForm["prefix"]
	prefixes, err := parsePrefixes(picked)
	if err == nil && len(prefixes) == 0 {
		err = errors.New("tick the entries to delete")
	}
	if err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{DeleteError: message(err)})
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		fields := []row{{"confirm", "yes"}}
		for _, p := range prefixes {
			fields = append(fields, row{"prefix", p.String()})
		}
		s.render(w, r, http.StatusOK, "confirm", "Delete entries", confirmData{
			Question: fmt.Sprintf("Delete %d entries from the %s list?", len(prefixes), list), Items: picked,
			Action: "/lists/" + list + "/delete", Fields: fields, Button: "Delete", Cancel: "/lists/" + list, Danger: true})
		return
	}
	n, err := s.b.Remove(r.Context(), list, prefixes, false)
	if err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{DeleteError: message(err)})
		return
	}
	s.done(w, r, "/lists/"+list, fmt.Sprintf("%d removed from the %s list", n, list), "list", list, "removed", picked)
}

// listClear empties the list, after a confirmation page.
func (s *server) listClear(w http.ResponseWriter, r *http.Request) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		entries, err := s.b.List(r.Context(), list)
		if err != nil {
			s.failed(w, r, "read the "+list+" list", err)
			return
		}
		s.render(w, r, http.StatusOK, "confirm", "Empty the list", confirmData{
			Question: fmt.Sprintf("Delete all %d entries of the %s list?", len(entries), list),
			Action:   "/lists/" + list + "/clear", Fields: []row{{"confirm", "yes"}}, Button: "Delete all", Cancel: "/lists/" + list, Danger: true})
		return
	}
	n, err := s.b.Remove(r.Context(), list, nil, true)
	if err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{DeleteError: message(err)})
		return
	}
	s.done(w, r, "/lists/"+list, fmt.Sprintf("the %s list is empty: %d removed", list, n), "list", list, "cleared", n)
}

// maxImport bounds an imported list file.
const maxImport = 16 << 20

// listImport adds a CSV file's entries, all or none: a file with a bad
// line is shown back with each bad line, and nothing is added.
func (s *server) listImport(w http.ResponseWriter, r *http.Request) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImport)
	f, _, err := r.FormFile("file")
	if err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{ImportError: "choose a CSV file to import: " + message(err)})
		return
	}
	defer f.Close()
	entries, err := api.ReadEntries(f, "dashboard")
	if err != nil {
		d := listData{ImportError: "nothing was imported: " + message(err)}
		if ie := (*api.ImportError)(nil); errors.As(err, &ie) {
			d.BadLines = ie.Lines
			if len(ie.Lines) > 0 {
				d.ImportError = fmt.Sprintf("nothing was imported: %d bad line(s)", len(ie.Lines))
			}
		}
		s.showList(w, r, http.StatusBadRequest, d)
		return
	}
	n, err := s.b.Add(r.Context(), list, entries)
	if err != nil {
		s.showList(w, r, http.StatusBadRequest, listData{ImportError: "nothing was imported: " + message(err)})
		return
	}
	s.done(w, r, "/lists/"+list, fmt.Sprintf("%d imported into the %s list", n, list), "list", list, "imported", n)
}

// listExport downloads the list as CSV: address,note,added,by, as
// sipguard allow export writes it.
func (s *server) listExport(w http.ResponseWriter, r *http.Request) {
	list, ok := listOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	entries, err := s.b.List(r.Context(), list)
	if err != nil {
		s.failed(w, r, "read the "+list+" list", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "sipguard-"+list+".csv"))
	cw := csv.NewWriter(w)
	for _, e := range entries {
		_ = cw.Write([]string{e.Prefix, e.Note, e.Added.Format("2006-01-02T15:04:05Z07:00"), e.By})
	}
	cw.Flush()
}
