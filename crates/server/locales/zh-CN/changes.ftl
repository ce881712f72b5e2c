## Change enablement: requests for change, risk, CAB approval, standard templates, freeze periods, the change calendar and its iCalendar feed.
