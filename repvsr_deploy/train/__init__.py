"""Training with the papers' recipes: data sampling, losses, learning-rate schedules, the loop."""
