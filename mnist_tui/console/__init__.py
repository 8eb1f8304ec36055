"""The console without the app: the headless runner (``headless``) and the rich tables (``tables``)."""
