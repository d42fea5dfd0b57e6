package dashboard

import (
	"fmt"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// chart is the overview's bar chart of attacks, drawn as inline SVG on the
// server: a bar per hour or per day.
type chart struct {
	Title  string
	Other  string // the link to the other period
	OtherQ string
	Width  int
	Height int
	Max    int // the tallest bar's count
	Total  int
	Bars   []bar
}

// bar is one period's bar: its place and size in the SVG's units.
type bar struct {
	X, Y, W, H int
	Count      int
	Label      string // under the bar, every few bars
	Title      string // the tooltip: the period and its counts
}

const (
	chartWidth  = 720
	chartHeight = 160
	chartBase   = 140 // the bars' baseline; labels below
)

// chartOf draws the activity's buckets, by hour or by day (step).
func chartOf(step string, a api.Activity) chart {
	c := chart{Title: "Attacks, last 24 hours", Other: "last 7 days", OtherQ: "?chart=7d", Width: chartWidth, Height: chartHeight}
	if step == api.StepDay {
		c.Title, c.Other, c.OtherQ = "Attacks, last 7 days", "last 24 hours", "?chart=24h"
	}
	for _, b := range a.Buckets {
		c.Max = max(c.Max, b.Events)
		c.Total += b.Events
	}
	n := len(a.Buckets)
	if n == 0 {
		return c
	}
	slot := chartWidth / n
	every := max(1, n/8) // at most about 8 labels
	for i, b := range a.Buckets {
		h := 0
		if c.Max > 0 {
			h = b.Events * (chartBase - 10) / c.Max
		}
		if b.Events > 0 && h < 2 {
			h = 2
		}
		br := bar{X: i*slot + 2, Y: chartBase - h, W: slot - 4, H: h, Count: b.Events,
			Title: fmt.Sprintf("%s: %d events (%d bans, %d permanent, %d alerts)", b.Label, b.Events, b.Bans, b.Permanent, b.Alerts)}
		if i%every == 0 {
			br.Label = b.Label
		}
		c.Bars = append(c.Bars, br)
	}
	return c
}
