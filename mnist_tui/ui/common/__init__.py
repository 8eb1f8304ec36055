"""Display helpers the apps, screens and widgets share (pure display code: no training logic)."""
