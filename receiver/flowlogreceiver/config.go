package flowlogreceiver

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// Default container names of Network Watcher flow logs.
const (
	ContainerVNet = "insights-logs-flowlogflowevent"
	ContainerNSG  = "insights-logs-networksecuritygroupflowevent"
)

// Values of start_at.
const (
	StartAtBeginning = "beginning"
	StartAtEnd       = "end"
)

// Config of the flowlog receiver. Exactly one source is configured: directory or azure_blob.
type Config struct {
	// Directory is a local directory holding the Network Watcher layout (a mirror or a
	// fixture): files whose paths end in y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=MAC/PT1H.json.
	Directory string `mapstructure:"directory"`
	// AzureBlob reads the flow log containers of a storage account.
	AzureBlob AzureBlobConfig `mapstructure:"azure_blob"`
	// PollInterval is the time between two listings of the source.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// StartAt applies to blobs that have no checkpoint when the receiver starts:
	// "beginning" reads them whole, "end" only reads what is added from now on. Blobs that
	// appear later are always read from their beginning.
	StartAt string `mapstructure:"start_at"`
	// Storage is the ID of a storage extension (for example file_storage) that keeps the
	// checkpoints. Without it checkpoints live in memory and a restart starts over (start_at).
	Storage *component.ID `mapstructure:"storage"`
	// MaxReadSize bounds the bytes read from one blob at a time (at least one whole block),
	// and with it the size of one batch of log records.
	MaxReadSize int64 `mapstructure:"max_read_size"`
	// MaxRecordSize bounds the bytes of one record (and of one block of a blob): a larger one
	// is skipped once, counted and logged, its checkpoint moved past it.
	MaxRecordSize int64 `mapstructure:"max_record_size"`
	// MaxRecordTuples bounds the flow tuples of one record: a record with more is skipped
	// without its tuples being kept.
	MaxRecordTuples int `mapstructure:"max_record_tuples"`
	// Coordination shares the blobs of one account among several replicas (azure_blob only).
	Coordination CoordinationConfig `mapstructure:"coordination"`
	// MetricsBuilderConfig turns each flowlog.* metric and resource attribute on or off
	// (`metrics`, `resource_attributes`: see documentation.md).
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AzureBlobConfig selects the storage account, the credentials and the containers.
type AzureBlobConfig struct {
	// ConnectionString of the storage account (key or SAS based). Takes precedence over
	// account_url.
	ConnectionString configopaque.String `mapstructure:"connection_string"`
	// AccountURL is the blob endpoint, https://<account>.blob.core.windows.net. It may carry
	// a SAS query string. Without sas_token and without a SAS in the URL, the default Azure
	// credential chain (environment, workload identity, managed identity, Azure CLI) is used.
	AccountURL string `mapstructure:"account_url"`
	// SASToken is a shared access signature (with or without the leading '?') for account_url.
	// It needs list and read permissions on the containers.
	SASToken configopaque.String `mapstructure:"sas_token"`
	// Containers to list.
	Containers []string `mapstructure:"containers"`
	// Prefix restricts the listing to blob names starting with it (for example
	// "flowLogResourceID=/" or "resourceId=/SUBSCRIPTIONS/<id>/").
	Prefix string `mapstructure:"prefix"`
}

// CoordinationConfig lets several replicas read one account without reading a blob twice:
// each blob is read by the replica holding the lease of its ownership blob in Container,
// which also keeps the blob's checkpoint.
type CoordinationConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Container of the same account for the ownership and member blobs (created if missing;
	// the credential needs write access to it).
	Container string `mapstructure:"container"`
	// LeaseDuration of the ownership leases (15s to 60s, whole seconds): how long the blobs
	// of a replica that died wait before another replica takes them.
	LeaseDuration time.Duration `mapstructure:"lease_duration"`
	// ReplicaID names this replica; unique among the running replicas. A replica restarted
	// with the same ID takes its leases back at once. Default: host name and a random suffix.
	ReplicaID string `mapstructure:"replica_id"`
}

// DefaultCoordinationContainer is the default coordination.container.
const DefaultCoordinationContainer = "erviz-flowlog-coordination"

func (a *AzureBlobConfig) configured() bool {
	return a.ConnectionString != "" || a.AccountURL != ""
}

func createDefaultConfig() component.Config {
	return &Config{
		PollInterval: 60 * time.Second,
		StartAt:      StartAtBeginning,
		MaxReadSize:  4 << 20,
		// Network Watcher writes a record per NIC and minute: thousands of tuples, a few MB.
		MaxRecordSize:   defaultMaxRecordSize,
		MaxRecordTuples: defaultMaxRecordTuples,
		Coordination: CoordinationConfig{
			Container:     DefaultCoordinationContainer,
			LeaseDuration: 30 * time.Second,
		},
		AzureBlob: AzureBlobConfig{
			Containers: []string{ContainerVNet, ContainerNSG},
		},
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Directory == "" && !c.AzureBlob.configured():
		errs = append(errs, errors.New("configure a source: directory, or azure_blob with connection_string or account_url"))
	case c.Directory != "" && c.AzureBlob.configured():
		errs = append(errs, errors.New("directory and azure_blob are mutually exclusive: use one receiver per source"))
	}
	if c.PollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll_interval %s is below 100ms", c.PollInterval))
	}
	if c.StartAt != StartAtBeginning && c.StartAt != StartAtEnd {
		errs = append(errs, fmt.Errorf("start_at must be %q or %q, got %q", StartAtBeginning, StartAtEnd, c.StartAt))
	}
	if c.MaxReadSize < 64<<10 {
		errs = append(errs, fmt.Errorf("max_read_size %d is below 65536", c.MaxReadSize))
	}
	errs = append(errs, c.validateBounds()...)
	if c.AzureBlob.configured() {
		a := &c.AzureBlob
		if a.ConnectionString != "" && (a.AccountURL != "" || a.SASToken != "") {
			errs = append(errs, errors.New("azure_blob: connection_string excludes account_url and sas_token"))
		}
		if a.AccountURL != "" {
			u, err := url.Parse(a.AccountURL)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("azure_blob.account_url: %w", err))
			case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
				errs = append(errs, fmt.Errorf("azure_blob.account_url %q is not an http(s) URL", a.AccountURL))
			case u.RawQuery != "" && a.SASToken != "":
				errs = append(errs, errors.New("azure_blob: account_url already carries a query (SAS); leave sas_token empty"))
			}
		}
		if len(a.Containers) == 0 {
			errs = append(errs, errors.New("azure_blob.containers is empty"))
		}
		seen := map[string]bool{}
		for i, name := range a.Containers {
			switch {
			case name == "" || strings.ContainsAny(name, "/?#"):
				errs = append(errs, fmt.Errorf("azure_blob.containers[%d] %q is not a container name", i, name))
			case seen[name]:
				errs = append(errs, fmt.Errorf("azure_blob.containers: %q is listed twice", name))
			}
			seen[name] = true
		}
	}
	if c.Coordination.Enabled {
		errs = append(errs, c.Coordination.validate(c)...)
	}
	return errors.Join(errs...)
}

func (k *CoordinationConfig) validate(c *Config) []error {
	var errs []error
	if !c.AzureBlob.configured() {
		errs = append(errs, errors.New("coordination needs the azure_blob source"))
	}
	if c.Storage != nil {
		errs = append(errs, errors.New("coordination keeps the checkpoints in its container: remove storage"))
	}
	if !validContainerName(k.Container) {
		errs = append(errs, fmt.Errorf("coordination.container %q is not a container name (3-63 lower-case letters, digits, single hyphens)", k.Container))
	}
	for _, name := range c.AzureBlob.Containers {
		if name == k.Container {
			errs = append(errs, fmt.Errorf("coordination.container %q is a source container: use a container of its own", k.Container))
		}
	}
	if k.LeaseDuration < 15*time.Second || k.LeaseDuration > 60*time.Second || k.LeaseDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("coordination.lease_duration %s must be whole seconds from 15s to 60s (Azure blob leases)", k.LeaseDuration))
	}
	if len(k.ReplicaID) > 200 || strings.IndexFunc(k.ReplicaID, func(r rune) bool { return !validReplicaRune(r) }) >= 0 {
		errs = append(errs, fmt.Errorf("coordination.replica_id %q: up to 200 letters, digits, '-', '_' or '.'", k.ReplicaID))
	}
	return errs
}

func validContainerName(s string) bool {
	if len(s) < 3 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
