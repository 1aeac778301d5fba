#!/bin/sh
# Wait for Kibana, then create the data view for the shipped logs (idempotent).
until curl -fs http://kibana:5601/api/status >/dev/null; do sleep 5; done
curl -s -X POST http://kibana:5601/api/data_views/data_view \
  -H 'kbn-xsrf: true' -H 'Content-Type: application/json' \
  -d '{"data_view": {"id": "voice-api-logs", "title": "voice-api-logs-*", "timeFieldName": "timestamp", "name": "Voice API logs"}, "override": true}'
echo
