package loganalyticsexporter

import (
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

func TestRetryAfter(t *testing.T) {
	resp := func(h map[string]string) *azcore.ResponseError {
		r := &http.Response{Header: http.Header{}}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return &azcore.ResponseError{StatusCode: 429, RawResponse: r}
	}
	if d := retryAfter(resp(map[string]string{"Retry-After": "7"})); d != 7*time.Second {
		t.Errorf("seconds: %v", d)
	}
	if d := retryAfter(resp(map[string]string{"retry-after-ms": "1500", "Retry-After": "7"})); d != 1500*time.Millisecond {
		t.Errorf("retry-after-ms wins: %v", d)
	}
	if d := retryAfter(resp(map[string]string{"x-ms-retry-after-ms": "250"})); d != 250*time.Millisecond {
		t.Errorf("x-ms-retry-after-ms: %v", d)
	}
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if d := retryAfter(resp(map[string]string{"Retry-After": date})); d < 58*time.Minute || d > time.Hour {
		t.Errorf("HTTP date an hour ahead: %v", d)
	}
	for _, bad := range []string{"", "soon", "-3", "0"} {
		if d := retryAfter(resp(map[string]string{"Retry-After": bad})); d != 0 {
			t.Errorf("%q: %v", bad, d)
		}
	}
	if retryAfter(nil) != 0 {
		t.Error("no response")
	}
}
