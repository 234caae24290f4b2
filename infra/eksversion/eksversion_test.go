package eksversion

import (
	"strings"
	"testing"
	"time"
)

// calendarRead is the day the calendar was read; the default is chosen as of then.
var calendarRead = day("2026-12-03")

func TestDefaultIsNewestInStandardSupport(t *testing.T) {
	v, err := Parse(Default)
	if err != nil {
		t.Fatal(err)
	}
	if newest := calendar[len(calendar)-1].minor; v.Minor != newest {
		t.Errorf("Default %s is not the newest minor in the calendar, 1.%d", Default, newest)
	}
	if warning, err := Check(v, calendarRead); err != nil || warning != "" {
		t.Errorf("Default %s on %s: warning %q, error %v; want standard support", Default, calendarRead.Format(time.DateOnly), warning, err)
	}
}

func TestCalendarIsOrderedAndDated(t *testing.T) {
	for i, s := range calendar {
		std, ext := day(s.standardEnd), day(s.extendedEnd)
		if !std.AddDate(1, 0, 0).Equal(ext) {
			t.Errorf("1.%d: extended support ends %s, want 12 months after standard support (%s)", s.minor, s.extendedEnd, s.standardEnd)
		}
		if i > 0 && (s.minor != calendar[i-1].minor+1 || !std.After(day(calendar[i-1].standardEnd))) {
			t.Errorf("1.%d does not follow 1.%d", s.minor, calendar[i-1].minor)
		}
	}
}

func TestParse(t *testing.T) {
	for _, ok := range []string{"1.29", "1.36", "1.100"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1", "1.33.2", "v1.33", "2.1", "1.x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		version, today string
		wantWarning    []string // empty: no warning
		wantErr        []string // empty: accepted
	}{
		{"1.36", "2026-12-03", nil, nil},
		{"1.35", "2026-12-03", nil, nil},
		// Standard support ends at the start of the day the calendar names.
		{"1.34", "2026-12-01", nil, nil},
		{"1.34", "2026-12-02", []string{ConfigKey + " 1.34", "extended support since 2026-12-02", "0.60 USD an hour instead of 0.10", "about 438 instead of 73", "set " + ConfigKey + " to 1.35"}, nil},
		{"1.33", "2026-12-03", []string{"since 2026-07-29 (until 2027-07-29)"}, nil},
		{"1.31", "2026-11-26", nil, []string{ConfigKey + " 1.31", "end of EKS extended support on 2026-11-26", "set " + ConfigKey + " to 1.32 or newer"}},
		{"1.28", "2026-12-03", nil, []string{"1.28 is past EKS extended support", "to 1.32"}},
		{"1.37", "2026-12-03", nil, []string{"1.37 is not offered by EKS", "its newest is 1.36", "set " + ConfigKey + " to 1.36"}},
	}
	for _, tt := range tests {
		v, err := Parse(tt.version)
		if err != nil {
			t.Fatal(err)
		}
		warning, err := Check(v, day(tt.today))
		if !contains(warning, tt.wantWarning) || !contains(errString(err), tt.wantErr) {
			t.Errorf("%s on %s: warning %q, error %v; want warning %q, error %q", tt.version, tt.today, warning, err, tt.wantWarning, tt.wantErr)
		}
	}
}

func TestCheckUpgrade(t *testing.T) {
	tests := []struct {
		old, next int
		wantErr   []string
	}{
		{33, 33, nil},
		{33, 34, nil},
		{33, 35, []string{ConfigKey + ": 1.33 -> 1.35 skips 1 minor", "set " + ConfigKey + " to 1.34, pulumi up"}},
		{32, 36, []string{"skips 3 minor"}},
		{35, 34, []string{"1.35 -> 1.34 is a downgrade", "set " + ConfigKey + " back to 1.35"}},
	}
	for _, tt := range tests {
		err := CheckUpgrade(Version{tt.old}, Version{tt.next})
		if !contains(errString(err), tt.wantErr) {
			t.Errorf("1.%d -> 1.%d: %v, want %q", tt.old, tt.next, err, tt.wantErr)
		}
	}
}

// contains: s holds every want; no wants means s must be empty.
func contains(s string, want []string) bool {
	if len(want) == 0 {
		return s == ""
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
