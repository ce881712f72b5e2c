## Problem management: problems, root cause analysis, the known error database and the incident trend view.
