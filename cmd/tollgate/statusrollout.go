package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Rollout is the staged rollout's state as its admin endpoint
// (/debug/rollout) publishes it. The status model reads it through JSON
// (decodeRollout), so counts are taken as numbers or as lists, and
// durations as strings or seconds: the model renders what it is given.
type Rollout struct {
	Generation  string              `json:"generation"`
	Previous    string              `json:"previous,omitempty"`
	State       string              `json:"state"` // idle, rolling, complete, rolled_back
	Reason      string              `json:"reason,omitempty"`
	Since       string              `json:"since,omitempty"`
	Stages      []rolloutStage      `json:"stages,omitempty"`
	Generations []rolloutGeneration `json:"generations,omitempty"`
	History     []rolloutEvent      `json:"history,omitempty"`
}

type rolloutStage struct {
	Name    string     `json:"name"`
	Groups  []string   `json:"groups,omitempty"`
	Percent float64    `json:"percent,omitempty"`
	Hold    flexString `json:"hold,omitempty"`
	Proxies []string   `json:"proxies,omitempty"`
	Acked   flexCount  `json:"acked"`
	State   string     `json:"state"`
}

type rolloutGeneration struct {
	Version string    `json:"version"`
	Applied flexCount `json:"applied"`
	Proxies flexCount `json:"proxies"`
}

type rolloutEvent struct {
	At         string `json:"at"`
	Generation string `json:"generation"`
	Event      string `json:"event"`
	Stage      string `json:"stage,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// flexCount is a count given as a number or as the list counted.
type flexCount int

// UnmarshalJSON reads a number, a list (its length) or null (0).
func (c *flexCount) UnmarshalJSON(b []byte) error {
	switch b = bytes.TrimSpace(b); {
	case bytes.Equal(b, []byte("null")):
		*c = 0
	case len(b) > 0 && b[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*c = flexCount(len(list))
	default:
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a count or a list, got %s", b)
		}
		*c = flexCount(n)
	}
	return nil
}

// flexString is a duration given as a string ("30s") or as seconds.
type flexString string

// UnmarshalJSON reads a string, or a number as seconds.
func (s *flexString) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = flexString(str)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a duration, got %s", b)
	}
	*s = flexString(strconv.FormatFloat(n, 'f', -1, 64) + "s")
	return nil
}
