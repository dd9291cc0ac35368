{{/* The alertmanager.yaml body: routes by severity, grouping, inhibition, file-referenced secrets. */}}
{{- define "leadscore.alertmanagerConfig" -}}
{{- $a := .Values.monitoring.alertmanager -}}
{{- $dir := printf "/etc/alertmanager/secrets/%s" $a.receiversSecret -}}
global:
  resolve_timeout: 5m
  slack_api_url_file: {{ $dir }}/slack-webhook-url
  smtp_from: {{ $a.email.from }}
  smtp_smarthost: {{ $a.email.smarthost }}
  smtp_auth_username: {{ $a.email.username }}
  smtp_auth_password_file: {{ $dir }}/smtp-password
  smtp_require_tls: true
# one notification per alert name and namespace (and revision for serving alerts), batched for 30s
route:
  receiver: slack-ml-alerts
  group_by: [alertname, namespace, revision]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    # critical: page the on-call (PagerDuty), and tell the channel and the mailbox
    - receiver: pagerduty-critical
      matchers: ['severity="critical"']
      repeat_interval: 1h
    # warning: channel + mailbox, no page
    - receiver: slack-and-email
      matchers: ['severity="warning"']
    # info: channel only, once a day
    - receiver: slack-ml-alerts
      matchers: ['severity="info"']
      repeat_interval: 24h
inhibit_rules:
  # a critical alert silences the warning of the same name and namespace
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, namespace]
  # no server reports at all: the per-pod readiness, latency and error alerts add nothing
  - source_matchers: ['alertname="LeadScoreReadinessAbsent"']
    target_matchers: ['alertname=~"LeadScoreModelNotReady|LeadScoreHighErrorRate|LeadScoreHighLatencyP99"']
    equal: [namespace]
  # a not-ready server explains its 5xx and its slow answers
  - source_matchers: ['alertname="LeadScoreModelNotReady"']
    target_matchers: ['alertname=~"LeadScoreHighErrorRate|LeadScoreHighLatencyP99"']
    equal: [namespace, revision]
  # failing durable writes explain the consumers' 5xx answers, dead letters and backlog
  - source_matchers: ['alertname="LeadMonitorWriteErrors"']
    target_matchers: ['alertname=~"LeadMonitorErrors|LeadEventsDeadLettered|LeadEventBacklog"']
    equal: [namespace]
receivers:
  - name: slack-ml-alerts
    slack_configs:
      - channel: {{ $a.slackChannel | quote }}
        send_resolved: true
        title: '[{{ "{{" }} .Status | toUpper {{ "}}" }}] {{ "{{" }} .CommonLabels.alertname {{ "}}" }} ({{ "{{" }} .CommonLabels.namespace {{ "}}" }})'
        text: '{{ "{{" }} range .Alerts {{ "}}" }}{{ "{{" }} .Annotations.summary {{ "}}" }} <{{ "{{" }} .Annotations.runbook_url {{ "}}" }}|runbook>{{ "{{" }} "\n" {{ "}}" }}{{ "{{" }} end {{ "}}" }}'
  - name: slack-and-email
    slack_configs:
      - channel: {{ $a.slackChannel | quote }}
        send_resolved: true
        title: '[{{ "{{" }} .Status | toUpper {{ "}}" }}] {{ "{{" }} .CommonLabels.alertname {{ "}}" }} ({{ "{{" }} .CommonLabels.namespace {{ "}}" }})'
        text: '{{ "{{" }} range .Alerts {{ "}}" }}{{ "{{" }} .Annotations.summary {{ "}}" }} <{{ "{{" }} .Annotations.runbook_url {{ "}}" }}|runbook>{{ "{{" }} "\n" {{ "}}" }}{{ "{{" }} end {{ "}}" }}'
    email_configs:
      - to: {{ $a.email.to }}
        send_resolved: true
  - name: pagerduty-critical
    pagerduty_configs:
      - routing_key_file: {{ $dir }}/pagerduty-routing-key
        send_resolved: true
        severity: critical
    slack_configs:
      - channel: {{ $a.slackChannel | quote }}
        send_resolved: true
        title: '[{{ "{{" }} .Status | toUpper {{ "}}" }}] {{ "{{" }} .CommonLabels.alertname {{ "}}" }} ({{ "{{" }} .CommonLabels.namespace {{ "}}" }})'
        text: '{{ "{{" }} range .Alerts {{ "}}" }}{{ "{{" }} .Annotations.summary {{ "}}" }} <{{ "{{" }} .Annotations.runbook_url {{ "}}" }}|runbook>{{ "{{" }} "\n" {{ "}}" }}{{ "{{" }} end {{ "}}" }}'
    email_configs:
      - to: {{ $a.email.to }}
        send_resolved: true
{{- end -}}
