package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestLiveHelpContract: the flags of sync, dump and convert follow the
// help contract: a placeholder on every flag that takes a value, no
// default repeated in the text when urfave prints it, no environment
// variable named in the text of the flag that reads it, and one
// meaning of --timeout.
func TestLiveHelpContract(t *testing.T) {
	app := newApp(globalOptions{})
	defaultInText := regexp.MustCompile(`\(default:`)
	for _, name := range []string{"sync", "dump", "convert"} {
		cmd := app.Command(name)
		if cmd == nil {
			t.Fatalf("no command %s", name)
		}
		for _, f := range cmd.Flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			fname := f.Names()[0]
			usage := df.GetUsage()
			if df.TakesValue() && !strings.Contains(usage, "`") {
				t.Errorf("%s --%s: no `PLACEHOLDER` in %q", name, fname, usage)
			}
			if (df.GetValue() != "" || df.GetDefaultText() != "") && defaultInText.MatchString(usage) {
				t.Errorf("%s --%s: the default is repeated in %q", name, fname, usage)
			}
			for _, env := range df.GetEnvVars() {
				if strings.Contains(usage, env) {
					t.Errorf("%s --%s: names its own variable %s in %q", name, fname, env, usage)
				}
			}
			if fname == "timeout" && !strings.HasPrefix(usage, timeoutUsage) {
				t.Errorf("%s --timeout: %q, not the one meaning %q", name, usage, timeoutUsage)
			}
		}
	}
	r := redkit(t, nil, "sync", "--help").want(t, 0)
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--to URL") && (strings.Contains(line, "(standalone)") || !strings.Contains(line, "cluster")) {
			t.Errorf("sync --to: %q", line)
		}
	}
}
