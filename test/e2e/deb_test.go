package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDebPackage installs the .deb built by `make package` into this machine with dpkg,
// checks what it installed and that the default configuration validates, then removes it.
func TestDebPackage(t *testing.T) {
	deb := need(t, "OTELCOL_ERVIZ_DEB", "the otelcol-erviz .deb")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("installing the .deb needs root")
		}
		t.Skip("installing the .deb needs root")
	}
	info, err := run(t, nil, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Maintainer")
	if err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, info)
	}
	if !strings.Contains(info, "Package: otelcol-erviz") {
		t.Errorf("package fields:\n%s", info)
	}
	contents, _ := run(t, nil, "dpkg-deb", "--contents", deb)
	for _, f := range []string{"./usr/bin/otelcol-erviz", "./lib/systemd/system/otelcol-erviz.service", "./etc/otelcol-erviz/config.yaml"} {
		if !strings.Contains(contents, f) {
			t.Errorf("%s not in the package:\n%s", f, contents)
		}
	}

	t.Cleanup(func() {
		if out, err := run(t, nil, "dpkg", "--purge", "otelcol-erviz"); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	})
	if out, err := run(t, []string{"DEBIAN_FRONTEND=noninteractive"}, "dpkg", "-i", deb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "/usr/bin/otelcol-erviz", "validate", "--config", "/etc/otelcol-erviz/config.yaml"); err != nil {
		t.Fatalf("validate the installed default config: %v\n%s", err, out)
	}
	conffiles, _ := os.ReadFile("/var/lib/dpkg/info/otelcol-erviz.conffiles")
	if !strings.Contains(string(conffiles), "/etc/otelcol-erviz/config.yaml") {
		t.Errorf("config.yaml is not a conffile (user edits would be overwritten on upgrade): %q", conffiles)
	}
	if out, err := run(t, nil, "id", "otelcol-erviz"); err != nil {
		t.Errorf("service user missing: %v %s", err, out)
	}
	if st, err := os.Stat("/var/lib/otelcol-erviz"); err != nil || !st.IsDir() {
		t.Errorf("state directory missing: %v", err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := run(t, nil, "systemd-analyze", "verify", "/lib/systemd/system/otelcol-erviz.service"); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("systemd-analyze missing (scripts/test-deps.apt installs systemd)")
	}
}
