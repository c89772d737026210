package lab

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Directions of an impairment, seen from the host whose interface it is.
const (
	DirBoth = "both" // the default: a bad cable degrades both ways
	DirOut  = "out"  // what the host sends into its segment
	DirIn   = "in"   // what the segment delivers to the host
)

// Impairment degrades the link of one host interface, as a slow line or a
// bad cable would. The kernel shapes and drops the frames in the lab's
// fabric namespace, on the fabric end of the interface's veth leg: nothing
// changes inside the host, whose qdiscs and firewall stay its daemon's and
// its student's.
type Impairment struct {
	// Rate caps the link at this many bits per second (0: no cap). The
	// kernel's tbf counts whole Ethernet frames, so a TCP stream's payload
	// gets about 95 % of it at an MTU of 1500.
	Rate uint64 `json:"rate,omitempty"`
	// Loss drops this percentage of frames, each one independently (0 to
	// 100, in steps of 0.01). ARP frames are lost as well, as on a cable.
	Loss float64 `json:"loss,omitempty"`
	// Delay holds every frame this long; Jitter varies the delay by up to
	// that much either way. Both need the kernel's netem qdisc.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Direction is DirBoth (""), DirOut or DirIn.
	Direction string `json:"direction,omitempty"`
}

// IsZero says the impairment changes nothing.
func (m Impairment) IsZero() bool {
	return m.Rate == 0 && m.Loss == 0 && m.Delay == 0 && m.Jitter == 0
}

// ways returns whether the impairment applies to what the host sends (out)
// and to what it receives (in).
func (m Impairment) ways() (out, in bool) {
	switch m.Direction {
	case DirOut:
		return true, false
	case DirIn:
		return false, true
	}
	return true, true
}

// String is the impairment in the words `nslab link set` takes.
func (m Impairment) String() string {
	var parts []string
	if m.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(m.Rate))
	}
	if m.Loss > 0 {
		parts = append(parts, "loss "+FormatLoss(m.Loss))
	}
	if m.Delay > 0 {
		parts = append(parts, "delay "+m.Delay.String())
	}
	if m.Jitter > 0 {
		parts = append(parts, "jitter "+m.Jitter.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	if m.Direction != "" && m.Direction != DirBoth {
		parts = append(parts, "direction "+m.Direction)
	}
	return strings.Join(parts, ", ")
}

// ImpairmentProblem is one thing wrong with an impairment: the field
// ("rate", "loss", "delay", "jitter", "direction") and why.
type ImpairmentProblem struct {
	Field, Message string
}

// Problems lists what is wrong with the impairment, without asking the
// kernel (NetemSupport says whether delay and jitter can be made).
func (m Impairment) Problems() []ImpairmentProblem {
	var ps []ImpairmentProblem
	add := func(f, format string, args ...any) {
		ps = append(ps, ImpairmentProblem{f, fmt.Sprintf(format, args...)})
	}
	switch m.Direction {
	case "", DirBoth, DirOut, DirIn:
	default:
		add("direction", "%q: want %s, %s or %s", m.Direction, DirBoth, DirOut, DirIn)
	}
	if m.Rate != 0 && m.Rate < minRate {
		add("rate", "%s is below the least rate tbf shapes well, %s", FormatRate(m.Rate), FormatRate(minRate))
	}
	if m.Loss < 0 || m.Loss > 100 || math.IsNaN(m.Loss) {
		add("loss", "%v%% is not a percentage from 0 to 100", m.Loss)
	}
	if m.Delay < 0 {
		add("delay", "%s is negative", m.Delay)
	}
	switch {
	case m.Jitter < 0:
		add("jitter", "%s is negative", m.Jitter)
	case m.Jitter > 0 && m.Delay == 0:
		add("jitter", "jitter %s varies a delay: give delay too", m.Jitter)
	}
	return ps
}

// Validate is Problems as one error.
func (m Impairment) Validate() error {
	var errs []error
	for _, p := range m.Problems() {
		errs = append(errs, fmt.Errorf("%s: %s", p.Field, p.Message))
	}
	return errors.Join(errs...)
}

// minRate is the least rate accepted: below it a single full frame takes
// longer than a second to pass.
const minRate = 8000

var rateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)bit(?:/s)?$`)

// ParseRate reads a rate as tc(8) writes one in bits: "500kbit", "10mbit",
// "1gbit", also "10Mbit/s"; the prefixes are decimal (k = 1000). tc's "bps"
// means bytes per second, which trips people up, so bytes are refused.
func ParseRate(s string) (uint64, error) {
	m := rateRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		if strings.HasSuffix(strings.ToLower(s), "bps") {
			return 0, fmt.Errorf("rate %q: tc reads bps as bytes per second; write bits, such as 10mbit", s)
		}
		return 0, fmt.Errorf("rate %q: want a number of bits per second such as 500kbit, 10mbit or 1gbit", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	v *= map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m[2]]
	if v < 1 || v > 1e13 {
		return 0, fmt.Errorf("rate %q: out of range", s)
	}
	return uint64(math.Round(v)), nil
}

// FormatRate writes bits per second the way ParseRate reads them.
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		div  uint64
		unit string
	}{{1e9, "gbit"}, {1e6, "mbit"}, {1e3, "kbit"}} {
		if bps >= u.div {
			return strconv.FormatFloat(float64(bps)/float64(u.div), 'f', -1, 64) + u.unit
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

// lossSteps is the resolution of a loss: the kernel draws a random number
// below it for each frame and drops the frame when it falls under the
// loss's share (nftables' numgen random).
const lossSteps = 10000

// ParseLoss reads a percentage, "20%" or "20" or "0.5%".
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("loss %q: want a percentage such as 20%%", s)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("loss %q: want a percentage from 0 to 100", s)
	}
	if steps := v * lossSteps / 100; math.Abs(steps-math.Round(steps)) > 1e-6 {
		return 0, fmt.Errorf("loss %q: at most two decimals", s)
	}
	return v, nil
}

// FormatLoss writes a percentage the way ParseLoss reads it.
func FormatLoss(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// ParseDelay reads a delay or jitter as Go writes durations: "10ms", "1.5s".
func ParseDelay(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 10ms", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}
