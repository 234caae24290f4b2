// Package eksversion knows which Kubernetes minor versions EKS offers and until when, so
// the stack asks for a version EKS creates and upgrades to, says when it costs the
// extended-support price, and refuses at preview what EKS would refuse half-way through
// an up: a version it does not offer, a skipped minor, a downgrade.
package eksversion

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// ConfigKey is the stack setting every message tells the user to change.
const ConfigKey = "counter-mysql:kubernetesVersion"

// Default is the newest minor under EKS standard support on the day the calendar below
// was read; TestDefaultIsNewestInStandardSupport keeps the two in step.
const Default = "1.36"

// Version is a Kubernetes minor version, 1.N.
type Version struct{ Minor int }

var form = regexp.MustCompile(`^1\.(\d{1,3})$`)

// Parse accepts a minor version such as "1.36" (EKS takes no patch).
func Parse(s string) (Version, error) {
	m := form.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a Kubernetes minor version: use one such as %q", s, Default)
	}
	n, _ := strconv.Atoi(m[1]) // the regexp proved it digits
	return Version{Minor: n}, nil
}

func (v Version) String() string { return fmt.Sprintf("1.%d", v.Minor) }

// support is one minor's life on EKS: billing for extended support starts at 00:00 UTC on
// standardEnd; from extendedEnd EKS creates no cluster on it and upgrades those left.
type support struct {
	minor                    int
	standardEnd, extendedEnd string // YYYY-MM-DD, UTC
}

// calendar is the "Amazon EKS Kubernetes release calendar",
// https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html#kubernetes-release-calendar,
// read 2026-12-03: 1.29 to 1.34 as published there; 1.35 and 1.36 (EKS release
// 2026-01-28 and 2026-06-02) follow its 14 + 12 months rule. Oldest first; a minor EKS
// releases later is refused until it is added here.
var calendar = []support{
	{29, "2025-03-23", "2026-03-23"},
	{30, "2025-07-23", "2026-07-23"},
	{31, "2025-11-26", "2026-11-26"},
	{32, "2026-03-23", "2027-03-23"},
	{33, "2026-07-29", "2027-07-29"},
	{34, "2026-12-02", "2027-12-02"},
	{35, "2027-03-27", "2028-03-27"},
	{36, "2027-08-02", "2028-08-02"},
}

// Control-plane prices per cluster hour (us-east-1, EKS pricing page, read 2026-12-03).
const (
	StandardHourly = 0.10
	ExtendedHourly = 0.60
	// HoursPerMonth is the 730 hours AWS prices a month with.
	HoursPerMonth = 730
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(fmt.Sprintf("eksversion: calendar date %q: %v", s, err))
	}
	return t
}

func lookup(v Version) (support, bool) {
	for _, s := range calendar {
		if s.minor == v.Minor {
			return s, true
		}
	}
	return support{}, false
}

// Check says whether EKS offers v on today. A version in extended support is allowed with
// a warning (its price); one past extended support, or one EKS does not offer, is refused.
func Check(v Version, today time.Time) (warning string, err error) {
	s, ok := lookup(v)
	oldest, newest := calendar[0], calendar[len(calendar)-1]
	switch {
	case !ok && v.Minor > newest.minor:
		return "", fmt.Errorf("%s %s is not offered by EKS as far as this program knows (its newest is 1.%d): "+
			"set %s to 1.%d, or add %s to the calendar in infra/eksversion once EKS offers it",
			ConfigKey, v, newest.minor, ConfigKey, newest.minor, v)
	case !ok:
		return "", fmt.Errorf("%s %s is past EKS extended support (1.%d's ended on %s): set %s to %s",
			ConfigKey, v, oldest.minor, oldest.extendedEnd, ConfigKey, oldestOffered(today))
	case !today.Before(day(s.extendedEnd)):
		return "", fmt.Errorf("%s %s reached the end of EKS extended support on %s: EKS creates no cluster on it "+
			"and upgrades those left at a time of its choosing; set %s to %s or newer "+
			"(a deployed cluster: the version it runs now, aws eks describe-cluster, then one minor per up)",
			ConfigKey, v, s.extendedEnd, ConfigKey, oldestOffered(today))
	case !today.Before(day(s.standardEnd)):
		return fmt.Sprintf("%s %s has been in EKS extended support since %s (until %s): the control plane costs "+
			"%.2f USD an hour instead of %.2f (about %.0f instead of %.0f USD a month); upgrade one minor at a time: set %s to 1.%d, pulumi up",
			ConfigKey, v, s.standardEnd, s.extendedEnd, ExtendedHourly, StandardHourly,
			ExtendedHourly*HoursPerMonth, StandardHourly*HoursPerMonth, ConfigKey, v.Minor+1), nil
	}
	return "", nil
}

// oldestOffered is the oldest minor EKS still runs on today (the newest known, should the
// calendar have run out).
func oldestOffered(today time.Time) Version {
	for _, s := range calendar {
		if today.Before(day(s.extendedEnd)) {
			return Version{Minor: s.minor}
		}
	}
	return Version{Minor: calendar[len(calendar)-1].minor}
}

// CheckUpgrade allows what EKS does in place: no change, or one minor up. Anything else
// is refused with both versions and the way forward.
func CheckUpgrade(old, next Version) error {
	switch d := next.Minor - old.Minor; {
	case d < 0:
		return fmt.Errorf("%s: %s -> %s is a downgrade, which EKS does not do: set %s back to %s",
			ConfigKey, old, next, ConfigKey, old)
	case d > 1:
		return fmt.Errorf("%s: %s -> %s skips %d minor versions, and EKS upgrades one at a time: set %s to 1.%d, pulumi up, and so on to %s",
			ConfigKey, old, next, d-1, ConfigKey, old.Minor+1, next)
	}
	return nil
}
