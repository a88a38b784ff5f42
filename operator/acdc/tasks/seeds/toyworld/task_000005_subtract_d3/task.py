"""Procedural toy-world task (subtract@3). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Subtract: 452-310",
        "answer": "142"
    },
    "2": {
        "prompt": "Subtract: 390-80",
        "answer": "310"
    }
}


def _normalise(text):
    return " ".join(str(text).split())


class TaskFamily:
    @staticmethod
    def get_tasks():
        return dict(INSTANCES)

    @staticmethod
    def get_instructions(t):
        return t["prompt"]

    @staticmethod
    def score(t, submission):
        return 1.0 if _normalise(submission) == _normalise(t["answer"]) else 0.0
