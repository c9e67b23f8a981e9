package loganalyticsexporter

import (
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
)

type exporterhelperQueue = exporterhelper.QueueBatchConfig

type attributeKeyT = attribute.Key
