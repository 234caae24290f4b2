// Package promcrd only pins the Prometheus Operator's API types for controller-gen.
package promcrd

import _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
