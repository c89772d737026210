package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/events"
	"github.com/nslab/nslab/hostd/filters"
)

// events streams Docker's events (GET /events), as dockerd 20.10 does:
// the recorded events between since and until that pass the filters,
// then, unless until is past, each new one as it comes until until or
// until the client goes. The headers go out at once.
func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	since, err := eventTime(r.FormValue("since"))
	if err != nil {
		return err
	}
	until, err := eventTime(r.FormValue("until"))
	if err != nil {
		return err
	}
	var timeout <-chan time.Time
	onlyPast := false
	if !until.IsZero() {
		if until.Before(since) {
			return errdefs.BadRequest("`since` time (%s) cannot be after `until` time (%s)", r.FormValue("since"), r.FormValue("until"))
		}
		if onlyPast = until.Before(time.Now()); !onlyPast {
			t := time.NewTimer(time.Until(until))
			defer t.Stop()
			timeout = t.C
		}
	}
	f, err := eventFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	past, ch := s.d.Events().Subscribe(since, until, f.Include)
	defer s.d.Events().Unsubscribe(ch)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	for _, m := range past {
		if err := enc.Encode(m); err != nil {
			return nil
		}
	}
	rc.Flush()
	if onlyPast {
		return nil
	}
	for {
		select {
		case m := <-ch:
			if !f.Include(m) {
				continue
			}
			if err := enc.Encode(m); err != nil {
				return nil
			}
			rc.Flush()
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// eventTime reads since or until as Docker's timetypes.ParseTimestamps:
// seconds, optionally with a fraction after a dot, which Docker scales to
// nanoseconds ("1.5" is one and a half seconds); empty is no time. A
// malformed one is strconv's error, a 500 as in dockerd.
func eventTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	secs, frac, hasFrac := strings.Cut(v, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if hasFrac {
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
		ns = int64(float64(ns) * math.Pow10(9-len(frac)))
	}
	return time.Unix(s, ns), nil
}

// eventFilters reads the filters of an events request: dockerd takes any
// key (those it does not know match nothing to exclude) and answers a
// malformed value with the JSON decoder's error, a 500.
func eventFilters(v string) (events.Filter, error) {
	f, err := filters.Decode(v)
	if err != nil {
		var raw any
		if jerr := json.Unmarshal([]byte(v), &raw); jerr != nil {
			return nil, jerr
		}
		return nil, fmt.Errorf("invalid filter: %s", v)
	}
	return events.Filter(f), nil
}
