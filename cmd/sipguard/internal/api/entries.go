package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sipguard/sipguard/netfilter"
)

// LineError is a bad line of a list file.
type LineError struct {
	Line int // from 1
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// ImportError refuses a list file: every bad line, or none at all.
type ImportError struct {
	Lines []LineError // empty when the file holds no entries
}

func (e *ImportError) Error() string {
	if len(e.Lines) == 0 {
		return "no entries"
	}
	msgs := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		msgs[i] = l.Error()
	}
	return strings.Join(msgs, "; ")
}

// maxBadLines bounds the bad lines an ImportError names.
const maxBadLines = 100

// ReadEntries reads a list file: CSV with the address or network first
// and an optional note second (the export's added and by columns are
// taken and ignored), or a sipPROT list file (one address per line).
// Lines starting with # and blank lines are skipped. A file with a bad
// line is refused whole: the error is an *ImportError naming each bad line
// (up to 100), and no entry is returned. by says who adds the entries.
func ReadEntries(r io.Reader, by string) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var (
		out []Entry
		bad ImportError
	)
	for len(bad.Lines) < maxBadLines {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad.Lines = append(bad.Lines, LineError{Line: pe.StartLine, Err: pe.Err})
				if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
					continue
				}
			} else {
				bad.Lines = append(bad.Lines, LineError{Line: line, Err: err})
			}
			break
		}
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			continue
		}
		if len(rec) > 4 {
			bad.Lines = append(bad.Lines, LineError{Line: line, Err: fmt.Errorf("%d fields, want address[,note[,added[,by]]]", len(rec))})
			continue
		}
		p, err := netfilter.ParsePrefix(rec[0])
		if err != nil {
			bad.Lines = append(bad.Lines, LineError{Line: line, Err: err})
			continue
		}
		e := Entry{Prefix: p.String(), By: by}
		if len(rec) > 1 {
			e.Note = strings.TrimSpace(rec[1])
		}
		out = append(out, e)
	}
	if len(bad.Lines) > 0 || len(out) == 0 {
		return nil, &bad
	}
	return out, nil
}
