from PyQt5.QtWidgets import QMainWindow

from .ui_mainwindow import Ui_MainWindow
from . import actions, dialogs, settings_store


class MainWindow(QMainWindow):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.ui = Ui_MainWindow()
        self.ui.setupUi(self)
        self.ui.pushButton.clicked.connect(self.on_search)
        self.ui.lineEdit.returnPressed.connect(self.on_search)
        self.ui.actionOpen.triggered.connect(lambda: actions.open_file(self))
        self.ui.actionSave.triggered.connect(lambda: actions.save_file(self))
        self.ui.actionSaveAs.triggered.connect(lambda: actions.save_file_as(self))
        self.ui.actionQuit.triggered.connect(self.close)
        self.ui.actionPreferences.triggered.connect(lambda: dialogs.preferences(self))
        self.ui.actionAbout.triggered.connect(lambda: dialogs.about(self))
        self.ui.tableWidget.itemDoubleClicked.connect(self.on_open_item)
        self.ui.tableWidget.customContextMenuRequested.connect(self.on_context_menu)
        self.restoreGeometry(settings_store.load("geometry"))

    def on_search(self):
        actions.search(self, self.ui.lineEdit.text())

    def on_open_item(self, item):
        actions.open_item(self, item)

    def on_context_menu(self, pos):
        dialogs.context_menu(self, pos)

    def closeEvent(self, event):
        settings_store.save("geometry", self.saveGeometry())
        super().closeEvent(event)
