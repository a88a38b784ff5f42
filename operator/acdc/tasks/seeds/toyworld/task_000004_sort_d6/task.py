"""Procedural toy-world task (sort@6). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Sort: 5 5 6 8 1 0",
        "answer": "0 1 5 5 6 8"
    },
    "2": {
        "prompt": "Sort: 3 4 7 5 9 8",
        "answer": "3 4 5 7 8 9"
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
