package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// A moment as the pages show it: relative ("3 min ago"), with the exact
// time on hover (title) and in the datetime attribute, from which the
// script keeps the relative text current.
type moment struct {
	ISO, Exact, Rel string
}

func momentOf(t, now time.Time) moment {
	if t.IsZero() {
		return moment{}
	}
	return moment{ISO: t.UTC().Format(time.RFC3339Nano), Exact: t.UTC().Format("2006-01-02 15:04:05.000 UTC"),
		Rel: relative(t, now)}
}

// relative is t relative to now: "just now", "4 s ago", "in 2 h 5 min".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	if d > -time.Second && d < time.Second {
		return "just now"
	}
	if d < 0 {
		return "in " + human(-d)
	}
	return human(d) + " ago"
}

// human is a duration for people: "850 ms", "4.2 s", "3 min 4 s",
// "2 h 5 min", "3 d 4 h".
func human(d time.Duration) string {
	if d < 0 {
		return "-" + human(-d)
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < 10*time.Second:
		return strconv.FormatFloat(math.Floor(d.Seconds()*10)/10, 'f', 1, 64) + " s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return pair(int(d/time.Minute), "min", int(d%time.Minute/time.Second), "s")
	case d < 24*time.Hour:
		return pair(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "min")
	default:
		return pair(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
	}
}

func pair(a int, ua string, b int, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d %s", a, ua)
	}
	return fmt.Sprintf("%d %s %d %s", a, ua, b, ub)
}

// span is the duration from a to b, "" when either is unset.
func span(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return ""
	}
	return human(b.Sub(a))
}

// jsonNode is a decoded JSON value for the collapsible view: objects keep
// their keys' order.
type jsonNode struct {
	Key    string // the member's name, or the element's index
	HasKey bool
	Kind   string // object, array, string, number, bool, null
	Text   string // a scalar's text (a string's with its quotes)
	Kids   []jsonNode
	Open   bool // shown unfolded (the first two levels, when not long)
}

// payload is an input or output as the execution page shows it: a
// collapsible tree when it is JSON, else its text (or its bytes, when it
// is not UTF-8 text).
type payload struct {
	Present bool
	Size    int
	Tree    *jsonNode
	Text    string // not JSON, or too large to draw as a tree
	Cut     bool   // Text is the first maxShownBytes only
}

// maxOpenKids is the most members an object or array shown unfolded may
// have.
const maxOpenKids = 20

// maxTreeBytes is the largest payload drawn as a tree; maxShownBytes the
// most of a payload's text a page shows.
const (
	maxTreeBytes  = 64 << 10
	maxShownBytes = 64 << 10
)

// maxTreeNodes bounds the collapsible tree; a larger document is shown
// pretty-printed.
const maxTreeNodes = 3000

func payloadOf(b []byte) payload {
	if b == nil {
		return payload{}
	}
	p := payload{Present: true, Size: len(b)}
	if len(b) <= maxTreeBytes {
		if n, err := parseJSON(b); err == nil {
			p.Tree = &n
			return p
		}
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") == nil {
		p.Text = buf.String()
	} else if utf8Text(b) {
		p.Text = string(b)
	} else {
		p.Text = strconv.QuoteToGraphic(string(b))
	}
	if len(p.Text) > maxShownBytes {
		cut := maxShownBytes
		for cut > 0 && !utf8.RuneStart(p.Text[cut]) {
			cut--
		}
		p.Text, p.Cut = p.Text[:cut], true
	}
	return p
}

func utf8Text(b []byte) bool {
	return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

var errTooBig = errors.New("too many nodes")

// parseJSON decodes one JSON document into a tree, keeping object keys in
// order; errTooBig past maxTreeNodes.
func parseJSON(b []byte) (jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	count := 0
	n, err := parseValue(dec, &count, 0)
	if err != nil {
		return n, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return n, errors.New("trailing data")
	}
	return n, nil
}

func parseValue(dec *json.Decoder, count *int, depth int) (jsonNode, error) {
	if *count++; *count > maxTreeNodes {
		return jsonNode{}, errTooBig
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonNode{}, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := jsonNode{Kind: "object"}
		if v == '[' {
			n.Kind = "array"
		}
		for i := 0; dec.More(); i++ {
			key := strconv.Itoa(i)
			if n.Kind == "object" {
				kt, err := dec.Token()
				if err != nil {
					return n, err
				}
				key = kt.(string) // an object's keys are strings
			}
			kid, err := parseValue(dec, count, depth+1)
			if err != nil {
				return n, err
			}
			kid.Key, kid.HasKey = key, true
			n.Kids = append(n.Kids, kid)
		}
		n.Open = depth < 2 && len(n.Kids) <= maxOpenKids
		_, err := dec.Token() // the closing delimiter
		return n, err
	case string:
		return jsonNode{Kind: "string", Text: strconv.Quote(v)}, nil
	case json.Number:
		return jsonNode{Kind: "number", Text: v.String()}, nil
	case bool:
		return jsonNode{Kind: "bool", Text: strconv.FormatBool(v)}, nil
	default:
		return jsonNode{Kind: "null", Text: "null"}, nil
	}
}

// trimFloat formats f with at most one decimal: "12", "0.4".
func trimFloat(f float64) string {
	if f >= 100 || f == math.Trunc(f) {
		return strconv.FormatFloat(math.Round(f), 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}
